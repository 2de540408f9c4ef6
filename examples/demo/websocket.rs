//! The demo's WebSockets: `/ws` echoes, `/ws/chat` broadcasts to the
//! `chat` group (on every demo process, with `--redis`). One thread takes
//! every socket's events in order; sends never block it.

use tether::cluster::Groups;
use tether::ws::{Message, WebSocket, WsEventKind, WsEvents};
use tether::SendError;

/// The chat's group.
const CHAT: &str = "chat";

pub fn run(events: WsEvents, chat: Groups) {
    while let Some(event) = events.recv() {
        let socket = &event.socket;
        match &event.kind {
            WsEventKind::Open(_) if socket.path() == "/ws/chat" => {
                let _ = chat.join(CHAT, socket.clone());
            }
            WsEventKind::Message(Message::Text(text)) if socket.path() == "/ws/chat" => {
                let _ = chat.broadcast_text(CHAT, text);
            }
            // Binary chat messages are not relayed.
            WsEventKind::Message(_) if socket.path() == "/ws/chat" => {}
            WsEventKind::Message(message) => echo(socket, message),
            WsEventKind::Closed { reason, .. } => {
                log::debug!("{} WebSocket closed: {reason}", socket.id());
                chat.leave(CHAT, socket.id());
            }
            _ => {}
        }
    }
}

/// Echoes a message. One that cannot be queued — larger than the send
/// budget (`ws_send_budget_bytes`), or the memory budget is full — ends the
/// socket with 1009 rather than vanish silently; a closed socket needs
/// nothing.
fn echo(socket: &WebSocket, message: &Message) {
    let sent = match message {
        Message::Text(text) => socket.send_text(text),
        Message::Binary(data) => socket.send_binary(data),
    };
    if sent == Err(SendError::Full) {
        let _ = socket.close(1009, "message too big to echo");
    }
}
