//! portcullis-match
