//! The console's graph as a browser draws it: the order example's
//! execution page and definition page rendered by headless Chromium, the
//! SVG read back (state boxes, edge polylines, label boxes as the browser
//! measured them) and put through `raftflow_core::layout::check`.

use std::collections::BTreeMap;
use std::time::Duration;

use raftflow_core::layout::{check, Edge, Layout, Node, Rect};

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(20);
const ORDER: &str = include_str!("../../../../examples/order/order.asl.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_order_example_is_drawn_readably_with_its_attempts() {
    let cluster = TestCluster::start(1, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    client
        .create_state_machine("order", ORDER, "the order example")
        .await
        .unwrap();
    let id = client
        .start_execution("order", Some("drawn"), r#"{"orderId": "o-1"}"#)
        .await
        .unwrap()
        .execution_id;
    let activities = vec!["validate-order".to_string()];
    let task = loop {
        if let Some(task) = client
            .poll_task(&activities, "validator-7", 5_000)
            .await
            .unwrap()
        {
            break task;
        }
    };
    client
        .fail_task(&task.token, "Order.Invalid", "no such customer")
        .await
        .unwrap();
    assert_eq!(client.wait_for_end(&id).await.unwrap().status, "FAILED");
    let addr = cluster.running().next().unwrap().http_addr.unwrap();
    let admin = crate::harness::admin_secret();

    let page = format!("login={admin}&then=/exec/{id}?state=ValidateOrder");
    let Some(dom) = crate::console::browser_dom(addr, &page) else {
        return;
    };
    let drawn = drawing(&dom);
    assert_eq!(
        drawn.nodes.len(),
        20,
        "18 states and two branches' boxes: {dom}"
    );
    let problems = check(&drawn);
    assert!(problems.is_empty(), "{problems:#?}");
    names_fit(&dom, &drawn);
    let validate = state_group(&dom, "ValidateOrder");
    assert!(validate.contains("data-status=\"caught\""), "{validate}");
    assert!(validate.contains("1 attempt (1 caught)"), "{validate}");
    let attempts = between(&dom, "<table id=\"attempts\">", "</table>");
    for shown in [
        "validator-7",
        "failed, caught",
        "Order.Invalid: no such customer",
    ] {
        assert!(
            attempts.contains(shown),
            "{shown} in the attempts: {attempts}"
        );
    }

    // The same picture for the definition, before any run.
    let Some(dom) = crate::console::browser_dom(addr, &format!("login={admin}&then=/sm/order"))
    else {
        return;
    };
    let problems = check(&drawing(&dom));
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The text between `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in:\n{text}"));
    let rest = &text[from..];
    &rest[..rest.find(end).map_or(rest.len(), |i| i + end.len())]
}

fn state_group<'a>(dom: &'a str, name: &str) -> &'a str {
    between(dom, &format!("data-state=\"{name}\""), "</g>")
}

/// Every `<tag …>` of the page with its attributes, in order.
fn tags(dom: &str, tag: &str) -> Vec<(usize, BTreeMap<String, String>)> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = dom[at..].find(&open) {
        let start = at + i + open.len();
        let end = start + dom[start..].find('>').expect("tags close");
        out.push((start, attributes(&dom[start..end])));
        at = end;
    }
    out
}

fn attributes(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim().trim_start_matches('/').to_string();
        let value_end = rest[eq + 2..].find('"').expect("quoted") + eq + 2;
        let value = rest[eq + 2..value_end]
            .replace("&gt;", ">")
            .replace("&lt;", "<")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        out.insert(key, value);
        rest = &rest[value_end + 1..];
    }
    out
}

fn num(attrs: &BTreeMap<String, String>, key: &str) -> f64 {
    attrs[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} of {attrs:?}"))
}

/// Rounds a measured box outwards, so the check sees all of it.
fn measured(box_text: &str) -> Rect {
    let v: Vec<f64> = box_text.split(' ').map(|x| x.parse().unwrap()).collect();
    let (x, y) = (v[0].floor(), v[1].floor());
    Rect {
        x: x as u32,
        y: y as u32,
        w: ((v[0] + v[2]).ceil() - x) as u32,
        h: ((v[1] + v[3]).ceil() - y) as u32,
    }
}

/// The graph the browser drew, read back from the SVG in the DOM.
fn drawing(dom: &str) -> Layout {
    let svg = between(dom, "<svg class=\"graph-svg\"", "</svg>");
    let root = &tags(svg, "svg")[0].1;
    let rects = tags(svg, "rect");
    let mut nodes = Vec::new();
    for (at, g) in tags(svg, "g") {
        let Some(name) = g.get("data-state") else {
            continue;
        };
        let (_, r) = rects
            .iter()
            .find(|(i, _)| *i > at)
            .expect("a group has its box");
        let class = &g["class"];
        nodes.push(Node {
            name: name.clone(),
            kind: if class.contains("branch") {
                "Branch"
            } else {
                "State"
            },
            x: num(r, "x") as u32,
            y: num(r, "y") as u32,
            w: num(r, "width") as u32,
            h: num(r, "height") as u32,
            container: class.contains("container") || class.contains("branch"),
        });
    }
    let labels: Vec<_> = tags(svg, "text")
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.get("class").is_some_and(|c| c == "edge-label"))
        .collect();
    let edges = tags(svg, "path")
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.get("class").is_some_and(|c| c.starts_with("edge")))
        .map(|p| edge(&p, &labels))
        .collect();
    Layout {
        width: num(root, "data-width") as u32,
        height: num(root, "data-height") as u32,
        nodes,
        edges,
        note: None,
    }
}

fn edge(path: &BTreeMap<String, String>, labels: &[BTreeMap<String, String>]) -> Edge {
    let numbers: Vec<u32> = path["d"]
        .split(' ')
        .filter(|t| *t != "M" && *t != "L")
        .map(|t| t.parse().unwrap())
        .collect();
    let (from, to) = (path["data-from"].clone(), path["data-to"].clone());
    let label = labels.iter().find(|l| l["data-edge"] == path["data-edge"]);
    Edge {
        from,
        to,
        label: label.map_or(String::new(), |l| l["data-box"].clone()),
        title: String::new(),
        back: path["class"].contains("back"),
        points: numbers.chunks(2).map(|c| [c[0], c[1]]).collect(),
        label_box: label.map(|l| measured(&l["data-box"])),
    }
}

/// Each state's name, as the browser measured it, lies inside its box.
fn names_fit(dom: &str, drawn: &Layout) {
    let svg = between(dom, "<svg class=\"graph-svg\"", "</svg>");
    for (at, g) in tags(svg, "g") {
        let Some(name) = g.get("data-state") else {
            continue;
        };
        if g["class"].contains("branch") {
            continue;
        }
        let Some((_, text)) = tags(svg, "text")
            .into_iter()
            .find(|(i, t)| *i > at && t.get("class").is_some_and(|c| c == "state-name"))
        else {
            continue;
        };
        let b = measured(&text["data-box"]);
        let n = drawn.nodes.iter().find(|n| &n.name == name).unwrap();
        assert!(
            b.x >= n.x && b.x + b.w <= n.x + n.w,
            "the name {name} ({b:?}) fits its box {n:?}"
        );
    }
}
