//! A raw WebSocket client over std TCP: it sends exactly the frames a test
//! builds (masked or not, fragmented, broken) and reads frames back.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use super::wire::{Over, Wire};

pub struct RawWs {
    pub stream: Wire,
    buf: Vec<u8>,
}

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
pub const FIN: u8 = 0x80;

impl RawWs {
    /// Connects and completes the handshake on `path`.
    pub fn connect(addr: SocketAddr, path: &str) -> RawWs {
        Self::connect_with_head(addr, path).0
    }

    /// [`connect`](RawWs::connect) over plain TCP or TLS.
    pub fn connect_over(over: Over, addr: SocketAddr, path: &str) -> RawWs {
        Self::handshake(over.connect(addr), path).0
    }

    /// Completes the handshake on `path` over a TCP stream the caller set up
    /// (a small receive window, say).
    #[allow(dead_code)]
    pub fn over_tcp(tcp: std::net::TcpStream, path: &str) -> RawWs {
        Self::handshake(Wire::Plain(tcp), path).0
    }

    /// [`connect`](RawWs::connect), also returning the `101`'s head.
    #[allow(dead_code)]
    pub fn connect_with_head(addr: SocketAddr, path: &str) -> (RawWs, String) {
        Self::handshake(Over::Plain.connect(addr), path)
    }

    fn handshake(mut stream: Wire, path: &str) -> (RawWs, String) {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let head = ws.read_until_blank_line().expect("a handshake response");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        (ws, head)
    }

    fn read_until_blank_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return Ok(head);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16384];
        // A signal (a demo child exiting, say) may interrupt the read.
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Sends one frame; `first` is FIN/RSV/opcode, masked as clients must.
    pub fn send(&mut self, first: u8, payload: &[u8]) {
        let bytes = frame(first, payload, true);
        self.stream.write_all(&bytes).unwrap();
    }

    /// Sends a whole text message in one frame.
    pub fn send_text(&mut self, text: &str) {
        self.send(FIN | TEXT, text.as_bytes());
    }

    /// Reads one frame: (first byte, payload).
    pub fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        loop {
            if let Some(&second) = self.buf.get(1) {
                assert_eq!(second & 0x80, 0, "server frames are never masked");
            }
            if let Some((first, payload, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Ok((first, payload));
            }
            self.fill()?;
        }
    }

    /// Bytes read past the handshake and not yet parsed.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reads frames until a close frame; its code.
    pub fn read_close_code(&mut self) -> Option<u16> {
        loop {
            let (first, payload) = self.read_frame().ok()?;
            if first & 0x0F == CLOSE {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    }
}

/// Parses one server frame from the front of `buf`: (first byte, payload,
/// bytes used), or `None` while incomplete.
pub fn parse_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let len7 = (*buf.get(1)? & 0x7F) as usize;
    let (len, header) = match len7 {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(buf.get(2..10)?);
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n, 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    Some((buf[0], payload, header + len))
}

/// Encodes a frame, masked or not.
pub fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![first];
    let bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 65535 => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}
