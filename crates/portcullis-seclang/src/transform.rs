//! Transformations (`t:`): every one ModSecurity v3 defines.

macro_rules! transformations {
    ($( $variant:ident = $name:literal $(| $alias:literal)*; )*) => {
        /// A transformation (`t:name`), applied to each value before the operator. Names are
        /// case-insensitive; `normalisePath` and `normalizePath` (and the `Win` pair) are one.
        /// `t:none` clears the transformations before it, those inherited from
        /// `SecDefaultAction` included.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Transformation {
            $( #[doc = concat!("`t:", $name, "`")] $variant, )*
        }

        impl Transformation {
            /// Every transformation.
            pub const ALL: &'static [Transformation] = &[$(Transformation::$variant),*];

            /// The name as ModSecurity's manual spells it.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Transformation::$variant => $name,)* }
            }

            /// The transformation named `name`, ignoring ASCII case.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Transformation> {
                $(
                    if name.eq_ignore_ascii_case($name) $(|| name.eq_ignore_ascii_case($alias))* {
                        return Some(Transformation::$variant);
                    }
                )*
                None
            }
        }
    };
}

transformations! {
    Base64Decode = "base64Decode";
    Base64DecodeExt = "base64DecodeExt";
    Base64Encode = "base64Encode";
    CmdLine = "cmdLine";
    CompressWhitespace = "compressWhitespace";
    CssDecode = "cssDecode";
    EscapeSeqDecode = "escapeSeqDecode";
    HexDecode = "hexDecode";
    HexEncode = "hexEncode";
    HtmlEntityDecode = "htmlEntityDecode";
    JsDecode = "jsDecode";
    Length = "length";
    Lowercase = "lowercase";
    Md5 = "md5";
    None = "none";
    NormalizePath = "normalizePath" | "normalisePath";
    NormalizePathWin = "normalizePathWin" | "normalisePathWin";
    ParityEven7bit = "parityEven7bit";
    ParityOdd7bit = "parityOdd7bit";
    ParityZero7bit = "parityZero7bit";
    RemoveComments = "removeComments";
    RemoveCommentsChar = "removeCommentsChar";
    RemoveNulls = "removeNulls";
    RemoveWhitespace = "removeWhitespace";
    ReplaceComments = "replaceComments";
    ReplaceNulls = "replaceNulls";
    Sha1 = "sha1";
    SqlHexDecode = "sqlHexDecode";
    Trim = "trim";
    TrimLeft = "trimLeft";
    TrimRight = "trimRight";
    Uppercase = "uppercase";
    UrlDecode = "urlDecode";
    UrlDecodeUni = "urlDecodeUni";
    UrlEncode = "urlEncode";
    Utf8ToUnicode = "utf8toUnicode";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            Transformation::from_name("normalisepath"),
            Some(Transformation::NormalizePath)
        );
        assert_eq!(
            Transformation::from_name("utf8toUnicode"),
            Some(Transformation::Utf8ToUnicode)
        );
        assert_eq!(Transformation::from_name("nope"), None);
        for t in Transformation::ALL {
            assert_eq!(Transformation::from_name(t.name()), Some(*t));
        }
    }
}
