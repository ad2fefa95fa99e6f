fn main() {
    let p: Vec<String> = std::env::args().skip(1).collect();
    match portcullis_rules::RuleSet::load(&p) {
        Ok(r) => println!("{:#?}", r.rules),
        Err(e) => println!("{e}"),
    }
}
