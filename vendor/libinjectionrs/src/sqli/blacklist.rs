// SQL injection blacklist checker - matches C implementation exactly

use super::sqli_data;

/// Check if a fingerprint is blacklisted
/// This matches libinjection_sqli_blacklist from the C version
pub fn is_blacklisted(fingerprint: &str) -> bool {
    // Match the C version: convert v0 fingerprint to v1 format
    // v0: up to 5 chars, mixed case  
    // v1: '0' prefix, up to 5 more chars, upper case
    
    if fingerprint.is_empty() {
        return false;
    }
    
    // Build the v1 fingerprint with '0' prefix (portcullis: on the stack, not in a String;
    // `lookup_word` folds it to upper case). No keyword is that long.
    let mut fp2 = [0u8; 32];
    let len = fingerprint.len() + 1;
    if len > fp2.len() {
        return false;
    }
    fp2[0] = b'0';
    fp2[1..len].copy_from_slice(fingerprint.as_bytes());
    match core::str::from_utf8(&fp2[..len]) {
        // Check if this fingerprint exists in the keywords table with type 'F'
        Ok(fp2) => sqli_data::lookup_word(fp2) == crate::sqli::TokenType::Fingerprint,
        Err(_) => false,
    }
}
