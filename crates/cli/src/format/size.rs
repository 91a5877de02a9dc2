//! go-units `HumanSize`: decimal units and Go's `%.*g` formatting.
//!
//! Docker prints image sizes with `HumanSizeWithPrecision(size, 3)` ("4.26MB", "1.2GB", "100B")
//! and reclaimed space with `HumanSize` (precision 4). Go's `%g` drops trailing zeros and
//! switches to exponent form when the exponent reaches the precision, so 999,960 bytes print as
//! "1e+03kB" in docker; we reproduce that too rather than "prettier" output.

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// go-units `HumanSize` (4 significant digits).
pub fn human_size(size: f64) -> String {
    human_size_precision(size, 4)
}

/// go-units `HumanSizeWithPrecision`.
pub fn human_size_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut unit = 0;
    while size >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), DECIMAL_UNITS[unit])
}

/// go-units `BytesSize`: binary units, 4 significant digits ("23.44GiB" in `info`).
pub fn bytes_size(size: f64) -> String {
    let mut size = size;
    let mut unit = 0;
    while size >= 1024.0 && unit < BINARY_UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, 4), BINARY_UNITS[unit])
}

/// Go's `strconv.FormatFloat(x, 'g', prec, 64)` for finite non-negative `x`.
pub fn format_g(x: f64, prec: usize) -> String {
    let prec = prec.max(1);
    let (digits, dp) = decimal_digits(x, prec);
    let nd = digits.len();
    let mut eprec = prec;
    if eprec > nd && nd >= dp as usize && dp >= 0 {
        eprec = nd;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec as i32 {
        let p = prec.min(nd.max(1));
        return format_e(&digits, exp, p - 1);
    }
    let p = if prec as i32 > dp {
        nd as i32
    } else {
        prec as i32
    };
    format_f(&digits, dp, (p - dp).max(0) as usize)
}

/// Digits of `x` rounded to `prec` significant digits, without trailing zeros, and the
/// position of the decimal point (Go's `decimal.dp`). Zero has no digits and `dp == 0`.
fn decimal_digits(x: f64, prec: usize) -> (Vec<u8>, i32) {
    if x == 0.0 {
        return (Vec::new(), 0);
    }
    let formatted = format!("{:.*e}", prec - 1, x);
    let (mantissa, exp) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

fn format_e(digits: &[u8], exp: i32, decimals: usize) -> String {
    let digit = |i: usize| char::from(*digits.get(i).unwrap_or(&b'0'));
    let mut out = String::new();
    out.push(digit(0));
    if decimals > 0 {
        out.push('.');
        (1..=decimals).for_each(|i| out.push(digit(i)));
    }
    let sign = if exp < 0 { '-' } else { '+' };
    out.push_str(&format!("e{sign}{:02}", exp.abs()));
    out
}

fn format_f(digits: &[u8], dp: i32, decimals: usize) -> String {
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |d| char::from(*d))
    };
    let mut out = String::new();
    if dp > 0 {
        (0..dp).for_each(|i| out.push(digit(i)));
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        (0..decimals as i32).for_each(|i| out.push(digit(dp + i)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_match_docker() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0B"),
            (1.0, "1B"),
            (100.0, "100B"),
            (999.0, "999B"),
            (1000.0, "1kB"),
            (1024.0, "1.02kB"),
            (4_264_000.0, "4.26MB"),
            (4_265_000.0, "4.26MB"),
            (4_266_000.0, "4.27MB"),
            (1_200_000_000.0, "1.2GB"),
            (1_000_000.0, "1MB"),
            (10_500_000.0, "10.5MB"),
            (77_800_000.0, "77.8MB"),
            (123_456_789.0, "123MB"),
            (999_960.0, "1e+03kB"),
            (5_000_000_000_000.0, "5TB"),
        ];
        for (size, want) in cases {
            assert_eq!(human_size_precision(*size, 3), *want, "size {size}");
        }
    }

    #[test]
    fn human_size_uses_four_digits() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(human_size(4_200_000.0), "4.2MB");
        // Go rounds after choosing the unit, so this is "1000MB" in docker too.
        assert_eq!(human_size(999_999_999.0), "1000MB");
    }

    #[test]
    fn bytes_size_is_binary() {
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(25_169_395_712.0), "23.44GiB");
        assert_eq!(bytes_size(512.0), "512B");
    }

    #[test]
    fn format_g_small_and_exponents() {
        assert_eq!(format_g(0.5, 3), "0.5");
        assert_eq!(format_g(0.0001234, 3), "0.000123");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(1234.0, 3), "1.23e+03");
        assert_eq!(format_g(120.0, 3), "120");
    }
}
