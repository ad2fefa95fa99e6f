//! portcullis-decide
