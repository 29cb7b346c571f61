use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> StateMachine {
    crate::parse_definition(text).unwrap()
}

fn node<'a>(l: &'a Layout, n: &str) -> &'a Node {
    l.nodes
        .iter()
        .find(|x| x.name == n)
        .unwrap_or_else(|| panic!("{n} drawn"))
}

fn assert_readable(l: &Layout) {
    let problems = check(l);
    assert!(problems.is_empty(), "{problems:#?}\n{l:#?}");
}

#[test]
fn layers_follow_transitions_and_branches_nest_inside_their_state() {
    let l = layout(&parse(
        r#"{"StartAt":"A","States":{
        "A":{"Type":"Pass","Next":"P"},
        "P":{"Type":"Parallel","Next":"C","Branches":[
           {"StartAt":"B1","States":{"B1":{"Type":"Pass","End":true}}},
           {"StartAt":"B2","States":{"B2":{"Type":"Task","Resource":"activity:x","End":true}}}]},
        "C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"A"}],"Default":"D"},
        "D":{"Type":"Succeed"}}}"#,
    ));
    let (a, p, c, d) = (node(&l, "A"), node(&l, "P"), node(&l, "C"), node(&l, "D"));
    assert!(a.y < p.y && p.y < c.y && c.y < d.y, "top to bottom: {l:?}");
    assert!(p.container && p.h > STATE_H);
    for b in ["B1", "B2", "P branch 1", "P branch 2"] {
        let b = node(&l, b);
        assert!(
            b.x >= p.x && b.x + b.w <= p.x + p.w && b.y > p.y && b.y + b.h <= p.y + p.h,
            "{b:?} inside {p:?}"
        );
    }
    assert!(
        node(&l, "B1").x + STATE_W <= node(&l, "B2").x,
        "side by side"
    );
    let back = l
        .edges
        .iter()
        .find(|e| e.from == "C" && e.to == "A")
        .unwrap();
    assert!(back.back && back.label == "rule 1" && back.label_box.is_some());
    let first = back.points[0];
    assert!(
        first[1] <= c.y + 1,
        "a loop back leaves its source upwards: {back:?}"
    );
    assert!(l
        .edges
        .iter()
        .any(|e| e.from == "C" && e.to == "D" && !e.back));
    assert_readable(&l);
}

#[test]
fn the_order_example_fits_a_window_and_reads_cleanly() {
    let text = include_str!("../../../../examples/order/order.asl.json");
    let l = layout(&parse(text));
    assert_readable(&l);
    assert!(
        l.width <= 1_200,
        "fits the console's panel at 1,400 px: {}",
        l.width
    );
    let labels: Vec<_> = l.edges.iter().filter(|e| e.label_box.is_some()).collect();
    assert!(
        labels.len() >= 5,
        "catches and rules are labelled: {labels:?}"
    );
}

#[test]
fn a_state_that_loops_to_itself_gets_a_loop_beside_it() {
    let l = layout(&parse(
        r#"{"StartAt":"Poll","States":{
        "Poll":{"Type":"Choice","Choices":[{"Variable":"$.done","BooleanEquals":false,"Next":"Poll"}],"Default":"End"},
        "End":{"Type":"Succeed"}}}"#,
    ));
    let poll = node(&l, "Poll");
    let lp = l
        .edges
        .iter()
        .find(|e| e.from == "Poll" && e.to == "Poll")
        .unwrap();
    assert!(lp.points.iter().all(|p| p[0] >= poll.x + poll.w));
    assert_readable(&l);
}

#[test]
fn long_catch_labels_are_cut_and_kept_whole_in_the_title() {
    let l = layout(&parse(
        r#"{"StartAt":"T","States":{
        "T":{"Type":"Task","Resource":"activity:x","End":true,"Catch":[{"ErrorEquals":
           ["States.TaskFailed","States.Timeout","States.HeartbeatTimeout"],"Next":"F"}]},
        "F":{"Type":"Fail"}}}"#,
    ));
    let e = l.edges.iter().find(|e| e.to == "F").unwrap();
    assert_eq!(e.label.chars().count(), LABEL_CHARS_MAX);
    assert!(e.label.ends_with('…') && e.title.ends_with("HeartbeatTimeout"));
    assert_readable(&l);
}

/// The checker finds what it is for: without it every other test here
/// would pass on any drawing.
#[test]
fn the_checker_names_overlaps_and_edges_through_states() {
    let mut l = layout(&parse(
        r#"{"StartAt":"A","States":{
        "A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"C"}],"Default":"B"},
        "B":{"Type":"Pass","Next":"C"},
        "C":{"Type":"Succeed"}}}"#,
    ));
    assert_readable(&l);
    let (b, c) = (node(&l, "B").clone(), node(&l, "C").clone());
    // A straight edge from A to C through B.
    let a_to_c = l
        .edges
        .iter_mut()
        .find(|e| e.from == "A" && e.to == "C")
        .unwrap();
    let (a, _) = (a_to_c.points[0], ());
    a_to_c.points = vec![a, [b.x + b.w / 2, b.y + b.h / 2], [c.x + c.w / 2, c.y]];
    let problems = check(&l);
    assert!(
        problems.contains(&Problem::EdgeThroughState {
            edge: "A → C (rule 1)".into(),
            state: "B".into()
        }),
        "{problems:?}"
    );
    let moved = l.nodes.iter_mut().find(|n| n.name == "C").unwrap();
    moved.y = b.y + 4;
    moved.x = b.x + 4;
    let problems = check(&l);
    assert!(problems.contains(&Problem::StatesOverlap("B".into(), "C".into())));
    assert!(problems.iter().any(|p| matches!(p, Problem::Detached(_))));
}

#[test]
fn the_checker_names_overlapping_labels() {
    let mut l = layout(&parse(
        r#"{"StartAt":"A","States":{
        "A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"B"}],"Default":"C"},
        "B":{"Type":"Succeed"},"C":{"Type":"Succeed"}}}"#,
    ));
    assert_readable(&l);
    let first = l.edges[0].label_box.unwrap();
    let second = l.edges.iter_mut().find(|e| e.label == "default").unwrap();
    second.label_box = Some(Rect {
        x: first.x + 3,
        ..first
    });
    let problems = check(&l);
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::LabelsOverlap(..))),
        "{problems:?}"
    );
}

/// Random machines: any shape of transitions, loops and fan-outs.
fn machine() -> impl Strategy<Value = String> {
    (2usize..24).prop_flat_map(|n| {
        proptest::collection::vec(
            (0..n, proptest::collection::vec(0..n, 0..4), any::<bool>()),
            n,
        )
        .prop_map(move |states| definition(n, &states))
    })
}

fn definition(n: usize, states: &[(usize, Vec<usize>, bool)]) -> String {
    let mut parts = Vec::new();
    for (i, (next, rules, parallel)) in states.iter().enumerate() {
        let body = if !rules.is_empty() {
            let choices: Vec<String> = rules
                .iter()
                .map(|r| format!(r#"{{"Variable":"$.v","NumericEquals":{r},"Next":"S{r}"}}"#))
                .collect();
            format!(
                r#""Type":"Choice","Choices":[{}],"Default":"S{next}""#,
                choices.join(",")
            )
        } else if *parallel && i + 1 < n {
            format!(
                r#""Type":"Parallel","Next":"S{next}","Branches":[{{"StartAt":"P{i}a","States":{{"P{i}a":{{"Type":"Pass","Next":"P{i}b"}},"P{i}b":{{"Type":"Pass","End":true}}}}}},{{"StartAt":"P{i}c","States":{{"P{i}c":{{"Type":"Pass","End":true}}}}}}]"#
            )
        } else if i + 1 == n {
            r#""Type":"Succeed""#.to_string()
        } else {
            format!(r#""Type":"Pass","Next":"S{next}""#)
        };
        parts.push(format!(r#""S{i}":{{{body}}}"#));
    }
    format!(r#"{{"StartAt":"S0","States":{{{}}}}}"#, parts.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_machine_is_drawn_readably(text in machine()) {
        let Ok(def) = crate::parse_definition(&text) else { return Ok(()) };
        let l = layout(&def);
        let problems = check(&l);
        prop_assert!(problems.is_empty(), "{:#?}\n{}", problems, text);
    }
}

/// A short state beside a tall Parallel: its edge must run down to the
/// row's bottom before it turns, or it would cut through the Parallel.
#[test]
fn edges_leave_a_row_below_its_tallest_box() {
    let l = layout(&parse(
        r#"{"StartAt":"X","States":{
        "X":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"S"}],"Default":"C"},
        "S":{"Type":"Pass","Next":"T"},
        "C":{"Type":"Parallel","Next":"T","Branches":[
           {"StartAt":"C1","States":{"C1":{"Type":"Pass","Next":"C2"},"C2":{"Type":"Pass","Next":"C3"},
              "C3":{"Type":"Pass","End":true}}},
           {"StartAt":"D1","States":{"D1":{"Type":"Pass","End":true}}},
           {"StartAt":"E1","States":{"E1":{"Type":"Pass","End":true}}}]},
        "T":{"Type":"Succeed"}}}"#,
    ));
    let (s, c) = (node(&l, "S"), node(&l, "C"));
    assert!(s.h < c.h && s.y > c.y, "S is centred beside the taller C");
    let e = l.edges.iter().find(|e| e.from == "S").unwrap();
    assert_eq!(
        e.points[1][1],
        c.y + c.h,
        "straight down to the row's bottom: {e:?}"
    );
    assert_readable(&l);
}

/// A definition whose every state is a far jump from the first would need
/// hundreds of thousands of boxes: it is drawn as states only, at once.
#[test]
fn a_definition_too_large_to_route_is_drawn_without_transitions() {
    let n = 400;
    let rules: Vec<String> = (1..n)
        .map(|r| format!(r#"{{"Variable":"$.v","NumericEquals":{r},"Next":"S{r}"}}"#))
        .collect();
    let mut states = vec![format!(
        r#""S0":{{"Type":"Choice","Choices":[{}],"Default":"S1"}}"#,
        rules.join(",")
    )];
    for i in 1..n {
        let next = if i + 1 == n {
            r#""Type":"Succeed""#.to_string()
        } else {
            format!(r#""Type":"Pass","Next":"S{}""#, i + 1)
        };
        states.push(format!(r#""S{i}":{{{next}}}"#));
    }
    let text = format!(r#"{{"StartAt":"S0","States":{{{}}}}}"#, states.join(","));
    let l = layout(&parse(&text));
    assert!(
        l.note.as_deref().is_some_and(|n| n.contains("too large")),
        "{:?}",
        l.note
    );
    assert_eq!((l.nodes.len(), l.edges.len()), (n, 0));
    assert_readable(&l);
}
