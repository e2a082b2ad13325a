//! The batch scheduling: one decision per intro being written, doomed
//! decisions answered without a write, and batches bounded in size.

use super::statement::row;
use super::*;
use crate::store::intro_writes::Due;

type Answer = oneshot::Receiver<StoreResult<bool>>;

fn job(intro_id: &str, version: i64) -> (Job, Answer) {
    let change = GuardedChange {
        intro_id: intro_id.to_string(),
        version: Some(version),
        intro: (String::new(), Vec::new()),
        rows: TransitionRows {
            parties: Vec::new(),
            event: Vec::new(),
            outbox: Vec::new(),
            tokens: Vec::new(),
            due: Due {
                intro_id: intro_id.to_string(),
                at: None,
                new: false,
            },
        },
        wake: false,
    };
    let (written, answer) = oneshot::channel();
    (Job { change, written }, answer)
}

fn waiting(jobs: &[(&str, i64)]) -> (Schedule, Vec<Answer>) {
    let mut schedule = Schedule::default();
    let mut answers = Vec::new();
    for (intro, version) in jobs {
        let (job, answer) = job(intro, *version);
        schedule.waiting.push_back(job);
        answers.push(answer);
    }
    (schedule, answers)
}

fn intros(batch: &[Job]) -> Vec<&str> {
    batch.iter().map(|j| j.change.intro_id.as_str()).collect()
}

fn written(batch: &[Job], written: bool) -> Vec<Outcome> {
    batch
        .iter()
        .map(|j| Outcome {
            written,
            ..j.change.outcome()
        })
        .collect()
}

#[test]
fn a_decision_on_an_intro_being_written_waits_for_that_batch() {
    let (mut schedule, _answers) = waiting(&[("a", 1), ("a", 1), ("b", 1), ("c", 1), ("a", 2)]);
    let first = schedule.next_batch();
    assert_eq!(intros(&first), ["a", "b", "c"]);
    schedule.in_flight = 1;
    assert!(schedule.next_batch().is_empty(), "a is being written");
    // Nothing written (the guards failed): the waiting ones go on, in order.
    schedule.finished(written(&first, false));
    assert_eq!(intros(&schedule.next_batch()), ["a"]);
    assert_eq!(schedule.waiting.len(), 1);
}

#[test]
fn a_decision_read_before_a_written_one_is_answered_without_a_write() {
    let (mut schedule, mut answers) = waiting(&[("a", 3), ("a", 3), ("a", 4), ("b", 3)]);
    let first = schedule.next_batch();
    assert_eq!(intros(&first), ["a", "b"]);
    schedule.in_flight = 1;
    schedule.finished(written(&first, true));
    // The second decision on a read version 3, now gone: false, read again.
    assert!(matches!(answers[1].try_recv(), Ok(Ok(false))));
    // The one read after the write waits its turn.
    assert!(answers[2].try_recv().is_err());
    assert_eq!(intros(&schedule.next_batch()), ["a"]);
    assert!(schedule.waiting.is_empty());
}

#[test]
fn a_batch_holds_at_most_max_batch_decisions() {
    let names: Vec<String> = (0..MAX_BATCH + 3).map(|i| i.to_string()).collect();
    let jobs: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let (mut schedule, _answers) = waiting(&jobs);
    assert_eq!(schedule.next_batch().len(), MAX_BATCH);
    assert_eq!(schedule.next_batch().len(), 3);
}

#[test]
fn rows_become_json_arrays_led_by_their_place_in_the_batch() {
    let values = [
        Value::from("x"),
        Value::Text(None),
        Value::from(5),
        Value::Int(None),
    ];
    assert_eq!(row(3, &values).to_string(), r#"[3,"x",null,5,null]"#);
}
