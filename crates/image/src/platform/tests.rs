use oci_spec::image::ImageIndex;

use super::windows::{check, previous_ltsc};
use super::*;
use Isolation::{HyperV, Process};

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn win(n: u8, version: &str) -> Candidate {
    Candidate {
        digest: digest(n),
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        size: 1000,
        platform: Some(Platform {
            os: "windows".into(),
            architecture: "amd64".into(),
            variant: None,
            os_version: Some(version.into()),
        }),
    }
}

fn linux(n: u8, arch: &str, variant: Option<&str>) -> Candidate {
    Candidate {
        digest: digest(n),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 500,
        platform: Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: None,
        }),
    }
}

// The entries the fixture index carries, in its order; the number is the digest seed.
const W1879: u8 = 1;
const W5820: u8 = 2;
const W2527: u8 = 3;
const W26100: u8 = 4;
const L_AMD64: u8 = 5;
const L_ARM64: u8 = 6;

fn fixture() -> Vec<Candidate> {
    vec![
        win(W1879, "10.0.17763.1879"),
        win(W5820, "10.0.17763.5820"),
        win(W2527, "10.0.20348.2527"),
        win(W26100, "10.0.26100.1000"),
        linux(L_AMD64, "amd64", None),
        linux(L_ARM64, "arm64", None),
    ]
}

fn windows_host(version: &str) -> Platform {
    Platform::parse("windows/amd64")
        .unwrap()
        .with_os_version(version)
        .unwrap()
}

#[test]
fn windows_version_parses_and_compares_numerically() {
    let v = WindowsVersion::parse("10.0.17763.1879").unwrap();
    assert_eq!(
        (v.major, v.minor, v.build, v.revision),
        (10, 0, 17763, 1879)
    );
    assert_eq!(WindowsVersion::parse("10.0.17763").unwrap().revision, 0);
    for bad in [
        "",
        "10",
        "10.0",
        "10.0.x",
        "10.0.17763.1.2",
        "10.0.-1",
        "10..17763",
    ] {
        assert!(WindowsVersion::parse(bad).is_err(), "{bad:?}");
    }
    let v = |s| WindowsVersion::parse(s).unwrap();
    assert!(v("10.0.17763.5820") > v("10.0.17763.1879"));
    // String order would get these wrong.
    assert!(v("10.0.17763.1879") > v("10.0.17763.999"));
    assert!(v("10.0.20348.1") > v("10.0.17763.99999"));
    assert_eq!(v("10.0.17763.1879").to_string(), "10.0.17763.1879");
}

#[test]
fn previous_ltsc_builds() {
    for (build, want) in [
        (14393, None),
        (17763, Some(14393)),
        (20348, Some(17763)),
        (22631, Some(20348)),
        (26100, Some(20348)),
        (26200, Some(26100)),
    ] {
        assert_eq!(previous_ltsc(build), want, "{build}");
    }
}

#[test]
fn windows_rules_per_isolation() {
    // host, image, process accepts, hyperv accepts
    let cases = [
        ("10.0.17763.2000", "10.0.17763.1879", true, true),
        ("10.0.17763.2000", "10.0.17763.5820", true, true),
        ("10.0.17763.2000", "10.0.14393.100", false, true),
        ("10.0.17763.2000", "10.0.20348.2527", false, false),
        ("10.0.14393.6000", "10.0.14393.6000", true, true),
        ("10.0.14393.6000", "10.0.14393.5000", false, true),
        ("10.0.14393.6000", "10.0.14393.7000", false, true),
        ("10.0.14393.6000", "10.0.17763.1879", false, false),
        ("10.0.20348.100", "10.0.17763.1879", true, true),
        ("10.0.20348.100", "10.0.20348.2527", true, true),
        ("10.0.20348.100", "10.0.14393.100", false, true),
        ("10.0.20348.100", "10.0.26100.1000", false, false),
        ("10.0.22631.3000", "10.0.17763.5820", false, true),
        ("10.0.22631.3000", "10.0.20348.2527", true, true),
        ("10.0.22631.3000", "10.0.26100.1000", false, false),
        ("10.0.26100.500", "10.0.17763.5820", false, true),
        ("10.0.26100.500", "10.0.20348.2527", true, true),
        ("10.0.26100.500", "10.0.26100.1000", true, true),
        ("10.0.26100.500", "6.3.9600.1", false, true),
        ("10.0.26100.500", "11.0.100.1", false, false),
    ];
    for (host, image, process, hyperv) in cases {
        let (h, i) = (
            WindowsVersion::parse(host).unwrap(),
            WindowsVersion::parse(image).unwrap(),
        );
        assert_eq!(
            check(&h, &i, Process).is_ok(),
            process,
            "process: host {host} image {image}"
        );
        assert_eq!(
            check(&h, &i, HyperV).is_ok(),
            hyperv,
            "hyperv: host {host} image {image}"
        );
    }
}

/// Per host: which fixture entries each isolation accepts, and what is chosen with process,
/// hyperv and no isolation.
#[test]
fn fixture_index_for_every_host_and_isolation() {
    struct Case {
        host: &'static str,
        process: &'static [u8],
        hyperv: &'static [u8],
        chosen: [Option<u8>; 3], // process, hyperv, none
    }
    let cases = [
        Case {
            host: "10.0.17763.2000",
            process: &[W1879, W5820],
            hyperv: &[W1879, W5820],
            chosen: [Some(W5820), Some(W5820), Some(W5820)],
        },
        Case {
            host: "10.0.14393.6000",
            process: &[],
            hyperv: &[],
            chosen: [None, None, None],
        },
        Case {
            host: "10.0.20348.100",
            process: &[W1879, W5820, W2527],
            hyperv: &[W1879, W5820, W2527],
            chosen: [Some(W2527), Some(W2527), Some(W2527)],
        },
        Case {
            host: "10.0.22631.3000",
            process: &[W2527],
            hyperv: &[W1879, W5820, W2527],
            chosen: [Some(W2527), Some(W2527), Some(W2527)],
        },
        Case {
            host: "10.0.26100.500",
            process: &[W2527, W26100],
            hyperv: &[W1879, W5820, W2527, W26100],
            chosen: [Some(W26100), Some(W26100), Some(W26100)],
        },
    ];
    let candidates = fixture();
    for case in cases {
        let wanted = windows_host(case.host);
        for (isolation, chosen) in [Some(Process), Some(HyperV), None]
            .into_iter()
            .zip(case.chosen)
        {
            let report = resolve(&candidates, &wanted, isolation);
            let ctx = format!("host {} isolation {isolation:?}:\n{report}", case.host);
            assert_eq!(
                report.chosen_digest(),
                chosen.map(digest).as_deref(),
                "{ctx}"
            );
            for (c, r) in candidates.iter().zip(&report.candidates) {
                let seed = (1..=6).find(|&n| digest(n) == c.digest).unwrap();
                let mut by = Vec::new();
                if case.process.contains(&seed) {
                    by.push(Process);
                }
                if case.hyperv.contains(&seed) {
                    by.push(HyperV);
                }
                assert_eq!(r.accepted_by, by, "{ctx}: entry {}", r.platform);
                let accepted = match isolation {
                    Some(i) => by.contains(&i),
                    None => !by.is_empty(),
                };
                assert_eq!(r.accepted, accepted, "{ctx}: entry {}", r.platform);
                if seed == L_AMD64 || seed == L_ARM64 {
                    assert_eq!(r.reason, "os linux does not match windows", "{ctx}");
                }
            }
        }
    }
}

#[test]
fn revision_14393_must_match_exactly() {
    let candidates = vec![
        win(1, "10.0.14393.5000"),
        win(2, "10.0.14393.6000"),
        win(3, "10.0.14393.7000"),
    ];
    let report = resolve(&candidates, &windows_host("10.0.14393.6000"), Some(Process));
    assert_eq!(report.chosen_digest(), Some(digest(2).as_str()));
    let accepted: Vec<bool> = report.candidates.iter().map(|c| c.accepted).collect();
    assert_eq!(accepted, [false, true, false]);
    assert!(
        report.candidates[0].reason.contains("revision 6000"),
        "{}",
        report.candidates[0].reason
    );
    // Hyper-V takes the newest revision of the same build.
    let report = resolve(&candidates, &windows_host("10.0.14393.6000"), Some(HyperV));
    assert_eq!(report.chosen_digest(), Some(digest(3).as_str()));
}

#[test]
fn preference_exact_build_then_build_then_revision() {
    let candidates = vec![
        win(1, "10.0.17763.999"),
        win(2, "10.0.17763.1879"),
        win(3, "10.0.20348.10"),
        win(4, "10.0.26100.1"),
    ];
    // Exact build wins even with a tiny revision.
    let r = resolve(&candidates, &windows_host("10.0.26100.500"), Some(HyperV));
    assert_eq!(r.chosen_digest(), Some(digest(4).as_str()));
    // Same build: the numerically highest revision (1879 > 999).
    let r = resolve(&candidates, &windows_host("10.0.17763.2000"), Some(Process));
    assert_eq!(r.chosen_digest(), Some(digest(2).as_str()));
    // No exact build: the newest build.
    let r = resolve(&candidates, &windows_host("10.0.22631.1"), Some(HyperV));
    assert_eq!(r.chosen_digest(), Some(digest(3).as_str()));
    assert!(r
        .chosen
        .unwrap()
        .reason
        .contains("preferred over 2 other acceptable entries"));
}

#[test]
fn windows_entries_without_checkable_versions() {
    let mut no_version = win(1, "x");
    no_version.platform.as_mut().unwrap().os_version = None;
    let candidates = vec![no_version, win(2, "ten")];
    let r = resolve(&candidates, &windows_host("10.0.17763.2000"), None);
    assert!(r.chosen.is_none());
    assert!(r.candidates[0].reason.contains("entry has no os.version"));
    assert!(r.candidates[1].reason.contains("not a Windows version"));
    // Without a host version nothing can be checked: the newest entry wins.
    let candidates = fixture();
    let r = resolve(
        &candidates,
        &Platform::parse("windows/amd64").unwrap(),
        Some(Process),
    );
    assert_eq!(r.chosen_digest(), Some(digest(W26100).as_str()));
    assert!(r.candidates[0].reason.contains("not checked"));
}

#[test]
fn linux_entries_match_os_arch_and_variant() {
    let candidates = fixture();
    let r = resolve(&candidates, &Platform::parse("linux/amd64").unwrap(), None);
    assert_eq!(r.chosen_digest(), Some(digest(L_AMD64).as_str()));
    assert_eq!(r.candidates[0].reason, "os windows does not match linux");
    assert_eq!(
        r.candidates[5].reason,
        "architecture arm64 does not match amd64"
    );

    // An arm64 entry without variant is arm64/v8.
    let r = resolve(
        &candidates,
        &Platform::parse("linux/aarch64").unwrap(),
        Some(Process),
    );
    assert_eq!(r.chosen_digest(), Some(digest(L_ARM64).as_str()));
    assert_eq!(r.candidates[5].platform, "linux/arm64/v8");
    assert_eq!(
        r.candidates[4].reason,
        "architecture amd64 does not match arm64"
    );

    // arm: exact variant preferred, an older variant accepted, a newer one rejected.
    let arm = vec![
        linux(1, "arm", Some("v6")),
        linux(2, "arm", Some("v7")),
        linux(3, "arm", Some("v8")),
    ];
    let r = resolve(&arm, &Platform::parse("linux/arm/v7").unwrap(), None);
    assert_eq!(r.chosen_digest(), Some(digest(2).as_str()));
    assert_eq!(
        r.candidates.iter().map(|c| c.accepted).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(r.candidates[2].reason, "variant v8 does not match v7");
    let r = resolve(&arm[..1], &Platform::parse("linux/armhf").unwrap(), None);
    assert_eq!(r.chosen_digest(), Some(digest(1).as_str()));

    // No wanted variant: an entry without variant is preferred over one with.
    let amd = vec![linux(1, "amd64", Some("v3")), linux(2, "x86_64", None)];
    let r = resolve(&amd, &Platform::parse("linux/amd64").unwrap(), None);
    assert_eq!(r.chosen_digest(), Some(digest(2).as_str()));

    // Entries without platform are rejected, not guessed.
    let mut bare = linux(1, "amd64", None);
    bare.platform = None;
    let r = resolve(&[bare], &Platform::parse("linux/amd64").unwrap(), None);
    assert!(r.chosen.is_none());
    assert_eq!(r.candidates[0].reason, "no platform");
    assert_eq!(r.candidates[0].platform, "unknown");
}

#[test]
fn report_json_shape() {
    let report = resolve(&fixture(), &windows_host("10.0.17763.2000"), Some(Process))
        .with_source("127.0.0.1:5000/win:ltsc", Some(digest(9)));
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "candidates",
            "chosen",
            "index_digest",
            "isolation",
            "reference",
            "wanted"
        ]
    );
    assert_eq!(json["reference"], "127.0.0.1:5000/win:ltsc");
    assert_eq!(json["index_digest"], digest(9));
    assert_eq!(
        json["wanted"],
        serde_json::json!({"os":"windows","architecture":"amd64","variant":null,"os_version":"10.0.17763.2000"})
    );
    assert_eq!(json["isolation"], "process");
    assert_eq!(json["chosen"]["digest"], digest(W5820));
    assert_eq!(json["chosen"]["platform"], "windows/amd64 10.0.17763.5820");
    assert!(json["chosen"]["reason"]
        .as_str()
        .unwrap()
        .contains("same build 17763"));
    let first = &json["candidates"][0];
    assert_eq!(first["platform"], "windows/amd64 10.0.17763.1879");
    assert_eq!(first["accepted"], true);
    assert_eq!(
        first["accepted_by"],
        serde_json::json!(["process", "hyperv"])
    );
    assert_eq!(json["candidates"][2]["accepted"], false);
    assert_eq!(json["candidates"][2]["accepted_by"], serde_json::json!([]));
    // Round-trips.
    let back: ResolveReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    // No isolation serialises as null.
    let r = resolve(&fixture(), &windows_host("10.0.17763.2000"), None);
    assert_eq!(
        serde_json::to_value(&r).unwrap()["isolation"],
        serde_json::Value::Null
    );
}

#[test]
fn no_match_explains_every_entry() {
    let candidates = vec![win(W1879, "10.0.17763.1879"), linux(L_AMD64, "amd64", None)];
    let report = resolve(&candidates, &windows_host("10.0.22631.3000"), Some(Process))
        .with_source("127.0.0.1:5000/win:ltsc", None);
    let text = report.to_string();
    assert!(
        text.starts_with(
            "no manifest in 127.0.0.1:5000/win:ltsc fits windows/amd64 10.0.22631.3000 with process isolation:\n"
        ),
        "{text}"
    );
    assert!(text.contains("windows/amd64 10.0.17763.1879: rejected: process isolation on build 22631 accepts builds 20348 to 22631, not 17763 (hyperv isolation would accept it)"), "{text}");
    assert!(
        text.contains("linux/amd64: rejected: os linux does not match windows\n")
            || text.ends_with("os linux does not match windows"),
        "{text}"
    );
    assert!(
        !text.contains("os linux does not match windows (hyperv"),
        "{text}"
    );

    let err = report.clone().into_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), text);

    // The success text names the chosen entry.
    let ok = resolve(&candidates, &windows_host("10.0.22631.3000"), Some(HyperV));
    let text = ok.to_string();
    assert!(
        text.starts_with(&format!(
            "the index: chose {} (windows/amd64 10.0.17763.1879)",
            digest(W1879)
        )),
        "{text}"
    );
    assert_eq!(ok.into_result().unwrap().digest, digest(W1879));
}

#[test]
fn platform_parse_normalise_display() {
    let cases = [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/8", "linux/arm64/v8"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("linux/ppc64le", "linux/ppc64le"),
        (
            "windows/amd64 10.0.17763.1879",
            "windows/amd64 10.0.17763.1879",
        ),
    ];
    for (input, want) in cases {
        let p = Platform::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(p.to_string(), want, "{input}");
        assert_eq!(
            Platform::parse(&p.to_string()).unwrap(),
            p,
            "{input} round-trip"
        );
    }
    assert_eq!(
        Platform::parse("linux").unwrap().architecture,
        Platform::host().architecture
    );
    assert_eq!(Platform::host().os, "linux");
    assert_ne!(Platform::host().architecture, "x86_64");
    for bad in [
        "",
        "linux/",
        "/amd64",
        "a/b/c/d",
        "windows/amd64 ten",
        "windows/amd64 10.0.1 x",
    ] {
        let err = Platform::parse(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
}

#[test]
fn isolation_parse_and_serde() {
    assert_eq!(Isolation::parse("process").unwrap(), Process);
    assert_eq!(Isolation::parse("hyperv").unwrap(), HyperV);
    assert_eq!(Isolation::parse("vm").unwrap(), HyperV);
    assert_eq!(Isolation::parse("HyperV").unwrap(), HyperV);
    let err = Isolation::parse("default").unwrap_err();
    assert!(err.to_string().contains("\"default\""), "{err}");
    assert_eq!(serde_json::to_string(&HyperV).unwrap(), "\"hyperv\"");
    assert_eq!(
        serde_json::from_str::<Isolation>("\"process\"").unwrap(),
        Process
    );
}

#[test]
fn candidates_from_an_index() {
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1234,
             "digest": digest(1), "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1879"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 99,
             "digest": digest(2), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7, "digest": digest(3)}
        ]
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    let index: ImageIndex = serde_json::from_value(json).unwrap();
    // oci-spec 0.10 drops `os.version` (youki-dev/oci-spec-rs#163); if this starts failing,
    // oci-spec got fixed and `candidates_from_index` becomes as good as the JSON variant.
    let parsed = candidates_from_index(&index);
    assert_eq!(parsed[0].platform.as_ref().unwrap().os_version, None);
    assert_eq!(
        parsed[1].platform.as_ref().unwrap().to_string(),
        "linux/arm64/v8"
    );

    let c = candidates_from_index_json(&bytes).unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].digest, digest(1));
    assert_eq!(c[0].size, 1234);
    assert_eq!(
        c[0].media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        c[0].platform.as_ref().unwrap().to_string(),
        "windows/amd64 10.0.17763.1879"
    );
    assert_eq!(
        c[1].platform.as_ref().unwrap().to_string(),
        "linux/arm64/v8"
    );
    assert!(c[2].platform.is_none());
}

#[test]
fn candidates_json_accepts_both_spellings_and_rejects_garbage() {
    let json = br#"{"manifests":[{"mediaType":"m","size":1,"digest":"d","platform":{"os":"windows","architecture":"amd64","osVersion":"10.0.20348.1"}}]}"#;
    let c = candidates_from_index_json(json).unwrap();
    assert_eq!(
        c[0].platform.as_ref().unwrap().os_version.as_deref(),
        Some("10.0.20348.1")
    );
    let err = candidates_from_index_json(b"{\"manifests\": 3}").unwrap_err();
    assert!(err.to_string().starts_with("invalid image index"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}
