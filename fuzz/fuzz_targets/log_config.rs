//! svlogd's config files: any bytes parse without a panic; each problem names a line of
//! the file; what is understood survives being written out and parsed again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_logger::configfile::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let (cfg, problems) = ConfigFile::parse(data);
    let lines = data.split(|&b| b == b'\n').count();
    for p in &problems {
        assert!(p.line >= 1 && p.line <= lines, "{p:?} of {lines} lines");
        assert!(!p.why.is_empty() && !p.why.contains('\n'), "{p:?}");
    }
    let mut again = Vec::new();
    if let Some(v) = cfg.size {
        again.extend(format!("s{v}\n").bytes());
    }
    if let Some(v) = cfg.count {
        again.extend(format!("n{v}\n").bytes());
    }
    if let Some(v) = cfg.min {
        again.extend(format!("N{v}\n").bytes());
    }
    if let Some(v) = cfg.age {
        again.extend(format!("t{}\n", v.as_secs()).bytes());
    }
    if let Some(v) = &cfg.processor {
        again.extend(format!("!{v}\n").bytes());
    }
    if let Some(u) = cfg.udp {
        again.extend(format!("{}{}\n", if u.only { 'U' } else { 'u' }, u.to).bytes());
    }
    if let Some(v) = &cfg.prefix {
        again.push(b'p');
        again.extend(v);
        again.push(b'\n');
    }
    for r in &cfg.rules {
        again.push(r.action.letter() as u8);
        again.extend(&r.pattern);
        again.push(b'\n');
    }
    let (cfg2, problems2) = ConfigFile::parse(&again);
    assert!(problems2.is_empty(), "{problems2:?} in {again:?}");
    assert_eq!(cfg, cfg2);
});
