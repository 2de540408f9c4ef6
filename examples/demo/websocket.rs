//! The demo's WebSockets: `/ws` echoes, `/ws/chat` broadcasts. One thread
//! takes every socket's events in order; sends never block it.

use tether::{Message, WsEventKind, WsEvents, WsGroup};

pub fn run(events: WsEvents) {
    let chat = WsGroup::new();
    while let Some(event) = events.recv() {
        let socket = &event.socket;
        match &event.kind {
            WsEventKind::Open(_) if socket.path() == "/ws/chat" => chat.join(socket.clone()),
            WsEventKind::Message(Message::Text(text)) if socket.path() == "/ws/chat" => {
                chat.broadcast_text(text);
            }
            // Binary chat messages are not relayed.
            WsEventKind::Message(_) if socket.path() == "/ws/chat" => {}
            WsEventKind::Message(Message::Text(text)) => {
                let _ = socket.send_text(text);
            }
            WsEventKind::Message(Message::Binary(data)) => {
                let _ = socket.send_binary(data);
            }
            WsEventKind::Closed { reason, .. } => {
                log::debug!("{} WebSocket closed: {reason}", socket.id());
                chat.leave(socket.id());
            }
            _ => {}
        }
    }
}
