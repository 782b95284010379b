use protocol::{AckResult, ClientMessage, ErrorCode, ServerMessage, StatusFilter, Todo};
use serde_json::json;

use super::TodoState;

fn todo(id: i64, title: &str, completed: bool, updated_sec: u32) -> Todo {
    serde_json::from_value(json!({
        "id": id, "title": title, "description": "", "completed": completed,
        "created_at": format!("2026-01-01T00:00:{:02}Z", id % 60),
        "updated_at": format!("2026-01-01T00:01:{:02}Z", updated_sec % 60),
    }))
    .unwrap()
}

fn created(seq: i64, t: Todo) -> ServerMessage {
    ServerMessage::TodoCreated { seq, todo: t }
}

fn titles(s: &TodoState) -> Vec<String> {
    s.visible(StatusFilter::All)
        .into_iter()
        .map(|r| r.title)
        .collect()
}

/// A state that went through welcome + list with the given todos, at `seq`.
fn synced(seq: i64, todos: Vec<Todo>) -> TodoState {
    let mut s = TodoState::new();
    let frames = s.on_welcome(seq);
    let id = frames[0].id.clone().unwrap();
    assert!(matches!(frames[0].msg, ClientMessage::TodoList { .. }));
    s.on_ack(
        &id,
        &AckResult::Todos {
            todos,
            next_after: None,
        },
    );
    assert!(s.loaded());
    s
}

#[test]
fn welcome_lists_then_events_apply_in_order() {
    let mut s = synced(3, vec![todo(1, "a", false, 0)]);
    assert_eq!(s.last_seq(), Some(3));
    s.on_event(&created(4, todo(2, "b", false, 0)));
    s.on_event(&ServerMessage::TodoUpdated {
        seq: 5,
        todo: todo(1, "a2", true, 5),
    });
    s.on_event(&ServerMessage::TodoDeleted { seq: 6, todo_id: 2 });
    assert_eq!(titles(&s), ["a2"]);
    assert_eq!(s.last_seq(), Some(6));
    assert_eq!(s.counts(), (0, 1));
}

#[test]
fn events_seen_while_listing_are_reapplied_on_top_of_an_older_list() {
    let mut s = TodoState::new();
    let frames = s.on_welcome(10);
    // Another tab adds a todo after the server read the list but before the answer reached us.
    s.on_event(&created(11, todo(7, "late", false, 0)));
    let id = frames[0].id.clone().unwrap();
    s.on_ack(
        &id,
        &AckResult::Todos {
            todos: vec![todo(1, "old", false, 0)],
            next_after: None,
        },
    );
    assert_eq!(titles(&s), ["old", "late"]);
}

#[test]
fn duplicate_events_are_ignored_and_a_gap_asks_for_a_replay() {
    let mut s = synced(1, vec![]);
    s.on_event(&created(2, todo(2, "b", false, 0)));
    // A replayed duplicate must not resurrect the old title.
    s.on_event(&ServerMessage::TodoUpdated {
        seq: 3,
        todo: todo(2, "b2", false, 3),
    });
    s.on_event(&created(2, todo(2, "b", false, 0)));
    assert_eq!(titles(&s), ["b2"]);
    // seq 4 is missing.
    let frames = s.on_event(&created(5, todo(5, "e", false, 0)));
    assert_eq!(frames[0].msg, ClientMessage::Hello { last_seq: Some(3) });
    assert_eq!(
        titles(&s),
        ["b2"],
        "an event past a gap waits for the replay"
    );
    // The replay fills the gap, then the resume is acked.
    s.on_event(&created(4, todo(4, "d", false, 0)));
    s.on_event(&created(5, todo(5, "e", false, 0)));
    s.on_ack(
        frames[0].id.as_deref().unwrap(),
        &AckResult::Resumed { seq: 5 },
    );
    assert_eq!(titles(&s), ["b2", "d", "e"]);
}

#[test]
fn add_is_pending_until_acked_and_the_event_does_not_duplicate_it() {
    let mut s = synced(0, vec![]);
    let frames = s.add("  Buy milk ").unwrap();
    assert_eq!(
        frames[0].msg,
        ClientMessage::TodoAdd {
            title: "Buy milk".into(),
            description: None
        }
    );
    let rows = s.visible(StatusFilter::All);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].pending && rows[0].id < 0);
    // The event may come before the ack: for a moment both exist, then the ack settles it.
    s.on_event(&created(1, todo(9, "Buy milk", false, 0)));
    s.on_ack(
        frames[0].id.as_deref().unwrap(),
        &AckResult::Todo {
            todo: todo(9, "Buy milk", false, 0),
        },
    );
    let rows = s.visible(StatusFilter::All);
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].pending);
    assert_eq!(rows[0].id, 9);
    assert_eq!(s.pending_count(), 0);
}

#[test]
fn invalid_titles_are_refused_before_sending() {
    let mut s = synced(0, vec![]);
    let err = s.add("   ").unwrap_err();
    assert!(err.starts_with("title"), "{err}");
    assert_eq!(s.pending_count(), 0);
    assert!(s.add(&"x".repeat(501)).is_err());
}

#[test]
fn an_error_frame_reverts_and_explains() {
    let mut s = synced(1, vec![todo(1, "a", false, 0)]);
    let frames = s.toggle(1);
    assert_eq!(
        frames[0].msg,
        ClientMessage::TodoUpdate {
            todo_id: 1,
            title: None,
            description: None,
            completed: Some(true)
        }
    );
    assert!(s.visible(StatusFilter::All)[0].completed, "optimistic");
    assert!(s.visible(StatusFilter::All)[0].pending);
    let (notice, _) = s.on_error(
        frames[0].id.as_deref().unwrap(),
        ErrorCode::RateLimited,
        "slow down",
    );
    assert!(notice.unwrap().message.contains("slow down"));
    let row = &s.visible(StatusFilter::All)[0];
    assert!(!row.completed && !row.pending, "reverted");

    let frames = s.add("new").unwrap();
    let (notice, _) = s.on_error(
        frames[0].id.as_deref().unwrap(),
        ErrorCode::ValidationFailed,
        "title: no",
    );
    assert_eq!(notice.unwrap().restore_input.as_deref(), Some("new"));
    assert_eq!(titles(&s), ["a"]);
}

#[test]
fn a_stale_ack_does_not_overwrite_a_newer_event() {
    let mut s = synced(1, vec![todo(1, "a", false, 0)]);
    let frames = s.rename(1, "b").unwrap();
    s.on_event(&ServerMessage::TodoUpdated {
        seq: 2,
        todo: todo(1, "b", false, 2),
    });
    // Another tab renamed it again.
    s.on_event(&ServerMessage::TodoUpdated {
        seq: 3,
        todo: todo(1, "c", false, 3),
    });
    s.on_ack(
        frames[0].id.as_deref().unwrap(),
        &AckResult::Todo {
            todo: todo(1, "b", false, 2),
        },
    );
    assert_eq!(titles(&s), ["c"]);
    // Renaming to the same title sends nothing.
    assert!(s.rename(1, " c ").unwrap().is_empty());
}

#[test]
fn delete_is_greyed_until_acked_and_not_found_counts_as_done() {
    let mut s = synced(1, vec![todo(1, "a", false, 0), todo(2, "b", false, 0)]);
    let f1 = s.delete(1);
    let f2 = s.delete(2);
    assert!(s.visible(StatusFilter::All)[0].deleting);
    s.on_ack(
        f1[0].id.as_deref().unwrap(),
        &AckResult::Deleted { todo_id: 1 },
    );
    // A stale update for a deleted todo must not bring it back.
    s.on_event(&ServerMessage::TodoUpdated {
        seq: 2,
        todo: todo(1, "a", true, 9),
    });
    let (notice, _) = s.on_error(f2[0].id.as_deref().unwrap(), ErrorCode::NotFound, "gone");
    assert!(notice.is_none());
    assert!(titles(&s).is_empty());
}

#[test]
fn commands_wait_while_offline_and_go_out_after_the_resume() {
    let mut s = synced(5, vec![todo(1, "a", false, 0)]);
    s.on_disconnect();
    assert!(s.add("offline add").unwrap().is_empty(), "queued, not sent");
    assert!(s.toggle(1).is_empty());
    assert!(
        s.visible(StatusFilter::All)[0].completed,
        "still shown optimistically"
    );
    let frames = s.on_welcome(6);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].msg, ClientMessage::Hello { last_seq: Some(5) });
    // The replay brings what happened meanwhile.
    s.on_event(&created(6, todo(2, "from elsewhere", false, 0)));
    let sent = s.on_ack(
        frames[0].id.as_deref().unwrap(),
        &AckResult::Resumed { seq: 6 },
    );
    let kinds: Vec<&str> = sent.iter().map(|f| f.msg.kind()).collect();
    assert_eq!(kinds, ["todo.add", "todo.update"]);
    assert_eq!(titles(&s), ["a", "from elsewhere", "offline add"]);
}

#[test]
fn an_add_cut_off_by_a_drop_is_not_sent_twice_when_the_replay_shows_it() {
    let mut s = synced(1, vec![]);
    let sent = s.add("milk").unwrap();
    assert_eq!(sent.len(), 1);
    let rename = s.add("eggs").unwrap();
    assert_eq!(rename.len(), 1);
    s.on_disconnect();
    let hello = s.on_welcome(2);
    // The server applied "milk" before the drop, not "eggs".
    s.on_event(&created(2, todo(3, "milk", false, 0)));
    let resent = s.on_ack(
        hello[0].id.as_deref().unwrap(),
        &AckResult::Resumed { seq: 2 },
    );
    assert_eq!(resent.len(), 1);
    assert_eq!(
        resent[0].msg,
        ClientMessage::TodoAdd {
            title: "eggs".into(),
            description: None
        }
    );
    assert_eq!(titles(&s), ["milk", "eggs"]);
}

#[test]
fn a_snapshot_replaces_the_list_when_the_resume_is_too_old() {
    let mut s = synced(1, vec![todo(1, "a", false, 0)]);
    s.on_disconnect();
    let hello = s.on_welcome(500);
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 500,
        todos: vec![todo(8, "z", true, 0)],
        more: false,
    });
    s.on_ack(
        hello[0].id.as_deref().unwrap(),
        &AckResult::Resumed { seq: 500 },
    );
    assert_eq!(titles(&s), ["z"]);
    assert_eq!(s.last_seq(), Some(500));
    assert_eq!(s.visible(StatusFilter::Pending).len(), 0);
    assert_eq!(s.visible(StatusFilter::Completed).len(), 1);
    // Older snapshots are ignored.
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 400,
        todos: vec![],
        more: false,
    });
    assert_eq!(titles(&s), ["z"]);
}

#[test]
fn a_failed_list_can_be_retried() {
    let mut s = TodoState::new();
    let frames = s.on_welcome(0);
    let (notice, again) = s.on_error(
        frames[0].id.as_deref().unwrap(),
        ErrorCode::Unavailable,
        "database down",
    );
    let notice = notice.unwrap();
    assert!(notice.message.contains("database down"));
    assert!(notice.needs_resync);
    assert!(again.is_empty());
    let frames = s.resync();
    s.on_ack(
        frames[0].id.as_deref().unwrap(),
        &AckResult::Todos {
            todos: vec![todo(1, "a", false, 0)],
            next_after: None,
        },
    );
    assert_eq!(titles(&s), ["a"]);
}

/// The `after` of a `todo.list` frame (panics on another frame).
fn list_after(frame: &protocol::ClientFrame) -> Option<i64> {
    match frame.msg {
        ClientMessage::TodoList { after, .. } => after,
        ref other => panic!("expected todo.list, got {other:?}"),
    }
}

#[test]
fn a_paged_list_follows_next_after_until_the_last_page() {
    let mut s = TodoState::new();
    let first = s.on_welcome(10);
    assert_eq!(list_after(&first[0]), None);
    // A command typed while the list loads waits for the whole list.
    assert!(s.add("typed early").unwrap().is_empty());
    let second = s.on_ack(
        first[0].id.as_deref().unwrap(),
        &AckResult::Todos {
            todos: vec![todo(1, "a", false, 0), todo(2, "b", false, 0)],
            next_after: Some(2),
        },
    );
    assert_eq!(second.len(), 1, "the next page is asked for at once");
    assert_eq!(list_after(&second[0]), Some(2));
    assert!(!s.loaded(), "half a list is not shown as the list");
    // Meanwhile another tab deletes a todo of the first page and adds one.
    s.on_event(&ServerMessage::TodoDeleted {
        seq: 11,
        todo_id: 1,
    });
    s.on_event(&created(12, todo(9, "new", false, 0)));
    let third = s.on_ack(
        second[0].id.as_deref().unwrap(),
        &AckResult::Todos {
            todos: vec![todo(3, "c", false, 0)],
            next_after: Some(3),
        },
    );
    assert_eq!(list_after(&third[0]), Some(3));
    // The last page (here empty: the previous one happened to end the list) ends the listing.
    let sent = s.on_ack(
        third[0].id.as_deref().unwrap(),
        &AckResult::Todos {
            todos: vec![],
            next_after: None,
        },
    );
    assert!(s.loaded());
    assert_eq!(titles(&s), ["b", "c", "new", "typed early"]);
    let kinds: Vec<&str> = sent.iter().map(|f| f.msg.kind()).collect();
    assert_eq!(
        kinds,
        ["todo.add"],
        "queued commands go out after the last page"
    );
    assert_eq!(s.last_seq(), Some(12));
}

#[test]
fn a_failed_page_offers_a_retry_that_starts_from_the_first_page() {
    let mut s = TodoState::new();
    let first = s.on_welcome(0);
    let second = s.on_ack(
        first[0].id.as_deref().unwrap(),
        &AckResult::Todos {
            todos: vec![todo(1, "a", false, 0)],
            next_after: Some(1),
        },
    );
    let (notice, _) = s.on_error(
        second[0].id.as_deref().unwrap(),
        ErrorCode::Unavailable,
        "database down",
    );
    assert!(notice.unwrap().needs_resync);
    let again = s.resync();
    assert_eq!(list_after(&again[0]), None);
}

#[test]
fn a_snapshot_in_parts_is_applied_only_when_its_last_part_arrives() {
    let mut s = synced(1, vec![todo(1, "a", false, 0)]);
    s.on_disconnect();
    let hello = s.on_welcome(900);
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 900,
        todos: vec![todo(5, "p1", false, 0), todo(6, "p2", false, 0)],
        more: true,
    });
    assert_eq!(
        titles(&s),
        ["a"],
        "the old list stays until the snapshot is whole"
    );
    assert_eq!(s.last_seq(), Some(1));
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 900,
        todos: vec![todo(7, "p3", true, 0)],
        more: true,
    });
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 900,
        todos: vec![todo(8, "p4", false, 0)],
        more: false,
    });
    assert_eq!(titles(&s), ["p1", "p2", "p3", "p4"]);
    assert_eq!(s.last_seq(), Some(900));
    s.on_ack(
        hello[0].id.as_deref().unwrap(),
        &AckResult::Resumed { seq: 900 },
    );
    // Live again: the next event applies on top of the whole snapshot.
    s.on_event(&created(901, todo(9, "after", false, 0)));
    assert_eq!(titles(&s), ["p1", "p2", "p3", "p4", "after"]);
}

#[test]
fn a_snapshot_cut_off_between_parts_is_dropped_not_half_applied() {
    let mut s = synced(1, vec![todo(1, "a", false, 0)]);
    s.on_disconnect();
    s.on_welcome(50);
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 50,
        todos: vec![todo(5, "stale part", false, 0)],
        more: true,
    });
    s.on_disconnect();
    let hello = s.on_welcome(60);
    assert_eq!(hello[0].msg, ClientMessage::Hello { last_seq: Some(1) });
    // The new snapshot (another seq) starts over: the old part is not mixed in.
    s.on_event(&ServerMessage::TodoSnapshot {
        seq: 60,
        todos: vec![todo(6, "fresh", false, 0)],
        more: false,
    });
    assert_eq!(titles(&s), ["fresh"]);
}
