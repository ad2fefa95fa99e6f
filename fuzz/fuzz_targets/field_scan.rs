//! Field scanners against naive `str` matching.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_match::{Detector, MatchSet, NaiveScanner, PatternId, PatternKind, ScannerBuilder};

#[derive(Arbitrary, Debug)]
struct Input {
    patterns: Vec<(u8, String, bool, u8)>,
    haystacks: Vec<String>,
}

fuzz_target!(|input: Input| {
    if input.patterns.len() > 200 || input.patterns.iter().any(|p| p.1.len() > 64) {
        return;
    }
    let mut fast = ScannerBuilder::new();
    let mut naive = NaiveScanner::new();
    for (kind, text, ci, id) in &input.patterns {
        let kind = match kind % 7 {
            0 => PatternKind::Contains,
            1 => PatternKind::StartsWith,
            2 => PatternKind::EndsWith,
            3 => PatternKind::Equals,
            4 => PatternKind::Detect(Detector::Sqli),
            5 => PatternKind::Detect(Detector::Xss),
            _ => PatternKind::Regex,
        };
        let id = PatternId::new(u32::from(*id % 64));
        if naive.add(id, kind, text, *ci).is_err() {
            // An invalid regex: the fast builder must refuse it too, not panic.
            let mut only = ScannerBuilder::new();
            only.add(id, kind, text, *ci);
            assert!(
                only.build().is_err(),
                "naive refused {text:?}, scanner accepted it"
            );
            return;
        }
        fast.add(id, kind, text, *ci);
    }
    let Ok(scanner) = fast.build() else { return };
    let mut scratch = scanner.scratch();
    for hay in &input.haystacks {
        let (mut a, mut b) = (MatchSet::new(64), MatchSet::new(64));
        scanner.scan(hay, &mut scratch, &mut a);
        naive.scan(hay, &mut b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            b.iter().collect::<Vec<_>>(),
            "haystack {hay:?}"
        );
    }
});
