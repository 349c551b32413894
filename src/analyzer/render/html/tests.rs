use crate::analyzer::render::html::*;

const HOSTILE: &str = r#"evil.<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;

fn ctx() -> Context {
    Context {
        title: "test".into(),
        window: Window::between(1_791_590_400_000, 1_791_594_000_000),
        generated_at: "2026-10-10T00:00:00Z".into(),
        summary: Summary::default(),
        validation: None,
        blind_spots: vec![format!("blind spot: {HOSTILE}")],
        complete: true,
    }
}

fn by_instance() -> DataFrame {
    df!(
        "project" => ["evil", "calm"],
        "instance" => [HOSTILE, "vm-2"],
        "session_name" => [HOSTILE, "calm.vm-2"],
        "api_calls" => [6i64, 2],
        "foreign_ip_calls" => [3i64, 0],
        "api_errors" => [1i64, 0],
    )
    .unwrap()
}

#[test]
fn every_value_from_the_log_is_escaped() {
    let findings = df!(
        "kind" => ["key_used_from_foreign_ip"],
        "severity" => ["high\"><script>alert(9)</script>"],
        "session_name" => [HOSTILE],
        "detail" => [HOSTILE],
        "events" => [3i64],
    )
    .unwrap();
    let activity = df!(
        "session_name" => [HOSTILE],
        "hour" => [1_791_590_400_000i64 / 3_600_000],
        "calls" => [6i64],
        "errors" => [1i64],
        "foreign_calls" => [3i64],
    )
    .unwrap();
    let b = by_instance();
    let page = render(
        &ctx(),
        &Sections {
            findings: Some(&findings),
            activity: Some(&activity),
            by_instance: Some(&b),
            ..Default::default()
        },
    )
    .unwrap();
    // The only script element is the page's own, and no attribute handler exists at all.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(!page.contains("<img"));
    // "onerror=" is on the page only as text: inside no tag.
    let mut tags = page
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""));
    assert!(tags.all(|t| !t.contains("onerror")), "{page}");
    assert!(page.contains("onerror="));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
    // A severity label never reaches the class attribute.
    assert!(page.contains(r#"class="finding sev-info""#));
    // This page has no section per instance (no sessions, no timeline): nothing links to one
    // (a scheduled report's page does, tests/html.rs), and the menu has no dangling separator.
    assert!(!page.contains("href=\"#i-"), "{page}");
    assert!(
        page.contains(r##"<a href="#instances">Instances</a></nav>"##),
        "{page}"
    );
}

#[test]
fn a_page_without_a_window_says_it_covers_the_whole_input() {
    let b = by_instance();
    let whole = Context {
        window: Window::default(),
        ..ctx()
    };
    let page = render(
        &whole,
        &Sections {
            by_instance: Some(&b),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        page.contains("the whole input (no --since or --until)"),
        "{page}"
    );
    assert!(!page.contains("open to open"));
    let since = Context {
        window: Window {
            since: Some(1_791_590_400_000),
            until: None,
        },
        ..ctx()
    };
    let page = render(
        &since,
        &Sections {
            by_instance: Some(&b),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(page.contains("from 2026-10-10T00:00:00Z on"), "{page}");
    // One section: no menu at all.
    assert!(!page.contains("<nav"), "{page}");
}

#[test]
fn the_policy_allows_exactly_the_inline_script_and_no_request() {
    let b = by_instance();
    let page = render(
        &ctx(),
        &Sections {
            by_instance: Some(&b),
            ..Default::default()
        },
    )
    .unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    assert!(page.contains(&format!("script-src 'sha256-{hash}'")));
    assert!(page.contains("default-src 'none'"));
    // The script in the page is byte for byte the one hashed.
    assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
    // Nothing refers outside the page (the SVG namespace is a name, not a request).
    let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    assert!(page.contains(r#"<span id="instance-count">2</span>"#));
}
