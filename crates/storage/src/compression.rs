//! Layer compression: detection by magic bytes or media type, and streaming decompression.
//!
//! Registries lie about media types often enough (docker media types on zstd blobs, missing
//! types on OCI layouts) that the layer store trusts the magic bytes; the media-type mapping is
//! for callers that must decide before they have any bytes.

use std::fmt;
use std::io::Read;

use crate::error::{Result, StorageError};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several concatenated members, as pigz and some registries produce).
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Guesses the compression from the first bytes of a blob; anything unrecognised is
    /// treated as an uncompressed tar (the tar reader will reject it if it is not one).
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else if magic.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// Maps an OCI or Docker layer media type to its compression; `None` if it is not a
    /// layer media type we know.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        const LAYER_PREFIXES: [&str; 4] = [
            "application/vnd.oci.image.layer.v1.",
            "application/vnd.oci.image.layer.nondistributable.v1.",
            "application/vnd.docker.image.rootfs.diff.",
            "application/vnd.docker.image.rootfs.foreign.diff.",
        ];
        // Media types are case-insensitive and may carry parameters.
        let mt = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let format = LAYER_PREFIXES
            .iter()
            .find_map(|p| mt.strip_prefix(p))
            .or_else(|| (mt == "application/x-tar").then_some("tar"))?;
        match format {
            "tar" => Some(Compression::None),
            "tar+gzip" | "tar.gzip" => Some(Compression::Gzip),
            "tar+zstd" | "tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The lowercase name, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wraps `reader` in the matching streaming decompressor.
pub fn decompress<'a>(reader: impl Read + 'a, c: Compression) -> Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(reader).map_err(|source| {
                StorageError::Decompress {
                    compression: c,
                    source,
                }
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detect_by_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::detect(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(Compression::detect(b"etc/\0\0\0"), Compression::None);
        assert_eq!(Compression::detect(&[0x1f]), Compression::None);
        assert_eq!(Compression::detect(&[]), Compression::None);
    }

    #[test]
    fn media_types() {
        use Compression::*;
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Some(None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Zstd)),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(Gzip),
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Some(Gzip),
            ),
            (
                "Application/VND.oci.image.layer.v1.tar+gzip; x=y",
                Some(Gzip),
            ),
            ("application/vnd.oci.image.config.v1+json", Option::None),
            ("application/vnd.oci.image.layer.v1.tar+bzip2", Option::None),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt), want, "{mt}");
        }
    }

    #[test]
    fn decompress_round_trips() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data[..5000]).unwrap();
        let mut multi = gz.finish().unwrap();
        // A second gzip member: MultiGzDecoder must not stop after the first.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data[5000..]).unwrap();
        multi.extend(gz.finish().unwrap());
        let zst = zstd::encode_all(&data[..], 1).unwrap();

        for (blob, c) in [
            (multi, Compression::Gzip),
            (zst, Compression::Zstd),
            (data.clone(), Compression::None),
        ] {
            assert_eq!(Compression::detect(&blob), c);
            let mut out = Vec::new();
            decompress(&blob[..], c)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{c}");
        }
    }
}
