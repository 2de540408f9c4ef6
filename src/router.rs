//! A route table: method and path pattern to what answers the request, on
//! the reactor thread. Patterns are matched by `matchit` (axum's matcher)
//! and captures decoded by `percent-encoding`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use crate::handler::Action;
use crate::proto::request::Request;
use crate::proto::response::Response;

type Route = Box<dyn Fn(&Request) -> Action + Send + Sync>;

/// The routes of one path pattern.
struct PathRoutes {
    pattern: Arc<str>,
    methods: Vec<(Cow<'static, str>, Route)>,
    /// The methods whose body is streamed to the worker.
    uploads: Vec<Cow<'static, str>>,
    /// The `Allow` header's value for a `405`.
    allow: String,
}

/// Maps method + path pattern to what answers: a closure that runs on the
/// reactor thread (so it must not block) and returns an [`Action`] —
/// answer inline, [hand off](crate::Handoff) to a named queue with a value
/// and a deadline, or [upgrade](crate::ws::Upgrade).
///
/// - Patterns are [`matchit`]'s: `/users/{id}` captures one segment,
///   `/files/{*rest}` the rest of the path. Captures are percent-decoded
///   ([`Request::param`]); a capture that does not decode to UTF-8 is
///   answered `400`. The matched pattern is [`Request::route`].
/// - A `GET` route answers `HEAD` too (the body is left out), unless a
///   `HEAD` route is given.
/// - A path that matches with a method that does not is answered `405`
///   with `Allow`; a path that matches nothing goes to the
///   [fallback](Router::fallback), by default `404`. A method the server
///   does not recognise (neither RFC 9110's nor routed anywhere) is
///   answered `501` instead of either (RFC 9110 §9.1), and `OPTIONS *`
///   `200` with every routed method in `Allow`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Read, Write};
/// use tether::{Handoff, Request, Response, Router, Server};
///
/// let router = Router::new()
///     .get("/hello", |_req: &Request| Response::text(200, "hello"))
///     .get("/users/{id}", |req: &Request| {
///         Response::text(200, format!("user {}", req.param("id").unwrap_or("?")))
///     })
///     .post("/jobs", |_req: &Request| Handoff::to("jobs"));
/// let server = Server::builder().queue("jobs", 64).router(router).bind("127.0.0.1:0")?;
///
/// let ask = |request: &str| -> std::io::Result<String> {
///     let mut client = std::net::TcpStream::connect(server.local_addr())?;
///     client.write_all(request.as_bytes())?;
///     let mut reply = String::new();
///     client.read_to_string(&mut reply)?;
///     Ok(reply)
/// };
/// let user = ask("GET /users/%31%32 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// assert!(user.ends_with("user 12"));
/// let wrong = ask("DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// assert!(wrong.starts_with("HTTP/1.1 405"));
/// assert!(wrong.contains("Allow: GET, HEAD\r\n"));
/// # Ok(())
/// # }
/// ```
pub struct Router {
    table: matchit::Router<usize>,
    paths: Vec<PathRoutes>,
    fallback: Option<Route>,
    /// The first route that could not be added.
    error: Option<String>,
    /// Where routes said they hand off or send their events, by route
    /// (`GET /jobs`): checked by `bind` against the builder's queues and
    /// event streams.
    outlets: Vec<(String, Outlet)>,
    /// The route added last, which `hands_off_to` and `sends_events_to`
    /// speak of.
    last: Option<String>,
}

/// A named place a route hands its requests to.
#[derive(Debug, Clone)]
pub(crate) enum Outlet {
    /// A hand-off queue ([`Builder::queue`](crate::Builder::queue)).
    Queue(Cow<'static, str>),
    /// A WebSocket event stream ([`Builder::ws_events`](crate::Builder::ws_events)).
    Events(Cow<'static, str>),
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_map();
        for path in &self.paths {
            list.entry(&path.pattern, &path.allow);
        }
        list.finish()
    }
}

/// Every outlet a route declared is one the builder has: `queue` and
/// `events` say whether it has a queue or an event stream of that name.
pub(crate) fn check_outlets(
    outlets: &[(String, Outlet)],
    queue: impl Fn(&str) -> bool,
    events: impl Fn(&str) -> bool,
) -> Result<(), String> {
    for (route, outlet) in outlets {
        let (known, kind, name, how) = match outlet {
            Outlet::Queue(name) => (queue(name), "hand-off queue", name, "Builder::queue"),
            Outlet::Events(name) => (
                events(name),
                "WebSocket event stream",
                name,
                "Builder::ws_events",
            ),
        };
        if !known {
            return Err(format!(
                "{route} hands off to the {kind} {name:?}, which no {how} declares"
            ));
        }
    }
    Ok(())
}

impl Router {
    /// An empty table: every request gets the fallback (`404`).
    pub fn new() -> Self {
        Router {
            table: matchit::Router::new(),
            paths: Vec::new(),
            fallback: None,
            error: None,
            outlets: Vec::new(),
            last: None,
        }
    }

    /// Declares that the route added last hands off to `queue`, so that
    /// [`Builder::bind`](crate::Builder::bind) refuses to start when no
    /// [`Builder::queue`](crate::Builder::queue) has that name
    /// ([`Error::InvalidRoute`](crate::Error::InvalidRoute), naming the
    /// route) rather than the first request finding out with a `500`.
    /// Declare each queue a route may hand off to; what the route returns
    /// is still its own (a hand-off to an undeclared queue is answered
    /// `500` at run time, as before).
    ///
    /// ```
    /// use tether::{Error, Handoff, Request, Router, Server};
    ///
    /// let router = Router::new()
    ///     .get("/jobs", |_: &Request| Handoff::to("jbos"))
    ///     .hands_off_to("jbos");
    /// let refused = Server::builder().queue("jobs", 64).router(router).bind("127.0.0.1:0");
    /// match refused {
    ///     Err(Error::InvalidRoute(why)) => assert!(why.contains("GET /jobs"), "{why}"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn hands_off_to(self, queue: impl Into<Cow<'static, str>>) -> Self {
        self.declare(Outlet::Queue(queue.into()))
    }

    /// Declares that the WebSockets the route added last upgrades send
    /// their events to the stream `name`
    /// ([`Upgrade::events`](crate::ws::Upgrade::events)), checked by
    /// [`Builder::bind`](crate::Builder::bind) against
    /// [`Builder::ws_events`](crate::Builder::ws_events) as
    /// [`hands_off_to`](Router::hands_off_to) checks queues.
    pub fn sends_events_to(self, name: impl Into<Cow<'static, str>>) -> Self {
        self.declare(Outlet::Events(name.into()))
    }

    fn declare(mut self, outlet: Outlet) -> Self {
        match &self.last {
            Some(route) => self.outlets.push((route.clone(), outlet)),
            None => {
                let why = format!("{outlet:?} declared before any route");
                self.error.get_or_insert(why);
            }
        }
        self
    }

    /// Where routes said they hand off, by route.
    /// Every path pattern, in the order `dispatch` numbers their slots.
    pub(crate) fn patterns(&self) -> Vec<Arc<str>> {
        self.paths
            .iter()
            .map(|path| Arc::clone(&path.pattern))
            .collect()
    }

    pub(crate) fn outlets(&self) -> &[(String, Outlet)] {
        &self.outlets
    }

    /// Routes `method` (e.g. `"GET"`, matched exactly) on `pattern` to
    /// `answer`. A pattern that does not parse, conflicts with another, or a
    /// method given twice for one pattern, makes
    /// [`Builder::bind`](crate::Builder::bind) fail with
    /// [`Error::InvalidRoute`](crate::Error::InvalidRoute).
    pub fn route<A, F>(
        mut self,
        method: impl Into<Cow<'static, str>>,
        pattern: &str,
        answer: F,
    ) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        let route: Route = Box::new(move |r| answer(r).into());
        if let Err(why) = self.add(method.into(), pattern, route, false) {
            self.error.get_or_insert(why);
        }
        self
    }

    /// Routes `method` on `pattern` to `answer` with the body *streamed*:
    /// `answer` runs once the head is in (the body is not buffered, so
    /// [`Request::body`] is empty), and a hand-off gives the worker the body
    /// as it arrives through [`Exchange::body_reader`](crate::Exchange::body_reader),
    /// with backpressure, up to
    /// [`Config::max_upload_bytes`](crate::Config::max_upload_bytes).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    /// use tether::{Handoff, Request, Response, Router, Server};
    ///
    /// let router = Router::new().upload("PUT", "/files/{name}", |_: &Request| Handoff::new());
    /// let server = Server::builder().router(router).bind("127.0.0.1:0")?;
    /// server.workers(1, |mut exchange| {
    ///     let mut body = exchange.body_reader().expect("a streamed body");
    ///     // Read as it arrives; a real service would write it to disk.
    ///     let stored = std::io::copy(&mut body, &mut std::io::sink());
    ///     let reply = match stored {
    ///         Ok(n) => Response::text(201, format!("{n} bytes")),
    ///         Err(err) => Response::text(400, err.to_string()),
    ///     };
    ///     let _ = exchange.respond(reply);
    /// });
    /// let mut client = std::net::TcpStream::connect(server.local_addr())?;
    /// client.write_all(b"PUT /files/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert!(reply.ends_with("5 bytes"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn upload<A, F>(
        mut self,
        method: impl Into<Cow<'static, str>>,
        pattern: &str,
        answer: F,
    ) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        let route: Route = Box::new(move |r| answer(r).into());
        if let Err(why) = self.add(method.into(), pattern, route, true) {
            self.error.get_or_insert(why);
        }
        self
    }

    /// Some route streams its body.
    pub(crate) fn has_uploads(&self) -> bool {
        self.paths.iter().any(|p| !p.uploads.is_empty())
    }

    /// The request's route streams its body.
    pub(crate) fn uploads(&self, request: &Request) -> bool {
        match self.table.at(request.path()) {
            Ok(matched) => {
                let uploads = &self.paths[*matched.value].uploads;
                uploads.iter().any(|m| m == request.method())
            }
            Err(_) => false,
        }
    }

    fn add(
        &mut self,
        method: Cow<'static, str>,
        pattern: &str,
        route: Route,
        upload: bool,
    ) -> Result<(), String> {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "method {method:?} for {pattern:?} is not an upper-case token"
            ));
        }
        let index = match self.paths.iter().position(|p| &*p.pattern == pattern) {
            Some(index) => index,
            None => {
                let index = self.paths.len();
                self.table
                    .insert(pattern, index)
                    .map_err(|err| format!("{pattern:?}: {err}"))?;
                self.paths.push(PathRoutes {
                    pattern: Arc::from(pattern),
                    methods: Vec::new(),
                    uploads: Vec::new(),
                    allow: String::new(),
                });
                index
            }
        };
        let path = &mut self.paths[index];
        if path.methods.iter().any(|(m, _)| *m == method) {
            return Err(format!("{method} {pattern:?} is routed twice"));
        }
        if upload {
            path.uploads.push(method.clone());
        }
        self.last = Some(format!("{method} {pattern}"));
        path.methods.push((method, route));
        path.allow = allow_header(&path.methods);
        Ok(())
    }

    /// Routes `GET` (and so `HEAD`) on `pattern`.
    pub fn get<A, F>(self, pattern: &str, answer: F) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        self.route("GET", pattern, answer)
    }

    /// Routes `POST` on `pattern`.
    pub fn post<A, F>(self, pattern: &str, answer: F) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        self.route("POST", pattern, answer)
    }

    /// Routes `PUT` on `pattern`.
    pub fn put<A, F>(self, pattern: &str, answer: F) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        self.route("PUT", pattern, answer)
    }

    /// Routes `DELETE` on `pattern`.
    pub fn delete<A, F>(self, pattern: &str, answer: F) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        self.route("DELETE", pattern, answer)
    }

    /// What answers a path no route matches (by default `404`).
    pub fn fallback<A, F>(mut self, answer: F) -> Self
    where
        A: Into<Action>,
        F: Fn(&Request) -> A + Send + Sync + 'static,
    {
        self.fallback = Some(Box::new(move |r| answer(r).into()));
        self
    }

    /// The first route that could not be added, if any.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Finds the request's route, records its captures in the request, and
    /// runs it.
    pub(crate) fn dispatch(&self, request: &mut Request) -> Action {
        if request.method() == "OPTIONS" && request.path() == "*" {
            // About the server as a whole (RFC 9110 §9.3.7): what it routes.
            return Action::Respond(Response::new(200).with_header("Allow", self.allow_all()));
        }
        let mut captures = std::mem::take(&mut request.captures);
        captures.clear();
        let found = match self.table.at(request.path()) {
            Err(_) => None,
            Ok(matched) => {
                let path = &self.paths[*matched.value];
                captures.route = Some(Arc::clone(&path.pattern));
                // Slot 0 is the unrouted; the table follows `patterns()`.
                captures.route_slot = u32::try_from(*matched.value + 1).unwrap_or(0);
                crate::stats::route_matched(captures.route_slot);
                let mut decoded = true;
                for (name, raw) in matched.params.iter() {
                    match percent_decode_str(raw).decode_utf8() {
                        Ok(value) => captures.push(name, &value),
                        Err(_) => decoded = false,
                    }
                }
                Some((path, decoded))
            }
        };
        request.captures = captures;
        let Some((path, decoded)) = found else {
            return match &self.fallback {
                Some(fallback) => fallback(request),
                None if !self.implements(request.method()) => not_implemented(),
                None => Action::Respond(Response::text(404, "not found")),
            };
        };
        if !decoded {
            return Action::Respond(Response::text(400, "path parameter is not UTF-8"));
        }
        let method = request.method();
        let route = path.methods.iter().find(|(m, _)| m == method).or_else(|| {
            let head = method == "HEAD";
            head.then(|| path.methods.iter().find(|(m, _)| m == "GET"))
                .flatten()
        });
        match route {
            Some((_, route)) => route(request),
            // RFC 9110 §9.1: a method the server does not recognise is not
            // implemented; a known one is not allowed on this path.
            None if !self.implements(method) => not_implemented(),
            None => Action::Respond(
                Response::text(405, "method not allowed").with_header("Allow", path.allow.clone()),
            ),
        }
    }

    /// True for a method this server recognises: one of RFC 9110's (and
    /// `PATCH`), or one some path routes.
    fn implements(&self, method: &str) -> bool {
        const STANDARD: [&str; 9] = [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ];
        STANDARD.contains(&method)
            || self
                .paths
                .iter()
                .any(|p| p.methods.iter().any(|(r, _)| r == method))
    }

    /// Every method some path routes, for `OPTIONS *`.
    fn allow_all(&self) -> String {
        let mut all: Vec<&str> = Vec::new();
        for path in &self.paths {
            for method in path.allow.split(", ") {
                if !method.is_empty() && !all.contains(&method) {
                    all.push(method);
                }
            }
        }
        if !all.contains(&"OPTIONS") {
            all.push("OPTIONS");
        }
        all.join(", ")
    }
}

fn not_implemented() -> Action {
    Action::Respond(Response::text(501, "method not implemented"))
}

/// The methods routed on one path, with `HEAD` where `GET` implies it.
fn allow_header(methods: &[(Cow<'static, str>, Route)]) -> String {
    let mut allow: Vec<&str> = methods.iter().map(|(m, _)| m.as_ref()).collect();
    if allow.contains(&"GET") && !allow.contains(&"HEAD") {
        let after_get = allow.iter().position(|m| *m == "GET").map_or(0, |i| i + 1);
        allow.insert(after_get, "HEAD");
    }
    allow.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse;

    fn request(raw: &str) -> Request {
        let mut req = Request::default();
        let parsed = parse::parse_head(raw.as_bytes(), 16, &mut req);
        assert!(matches!(parsed, Ok(Some(_))), "{raw:?}: {parsed:?}");
        req
    }

    fn answer(router: &Router, raw: &str) -> (Request, Action) {
        let mut req = request(raw);
        let action = router.dispatch(&mut req);
        (req, action)
    }

    fn status(action: &Action) -> u16 {
        match action {
            Action::Respond(response) => response.status(),
            other => panic!("not a response: {other:?}"),
        }
    }

    fn echo_id(req: &Request) -> Response {
        Response::text(200, req.param("id").unwrap_or("-").to_string())
    }

    #[test]
    fn captures_are_decoded_and_the_pattern_is_recorded() {
        let router = Router::new().get("/users/{id}", echo_id);
        let (req, action) = answer(&router, "GET /users/%31%32?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&action), 200);
        assert_eq!(req.param("id"), Some("12"));
        assert_eq!(req.route(), Some("/users/{id}"));
        assert_eq!(req.params().collect::<Vec<_>>(), [("id", "12")]);
    }

    #[test]
    fn head_runs_the_get_route_and_405_lists_what_is_allowed() {
        let router = Router::new()
            .get("/a", |_: &Request| Response::text(200, "a"))
            .post("/a", |_: &Request| Response::text(201, "made"));
        let (_, head) = answer(&router, "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&head), 200);
        let (_, put) = answer(&router, "PUT /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&put), 405);
        let Action::Respond(put) = put else {
            unreachable!()
        };
        assert_eq!(put.header("allow"), Some(&b"GET, HEAD, POST"[..]));
        let (req, missing) = answer(&router, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&missing), 404);
        assert_eq!(req.route(), None);
    }

    #[test]
    fn an_unknown_method_is_not_implemented_and_options_star_lists_methods() {
        let router = Router::new()
            .get("/a", |_: &Request| Response::text(200, "a"))
            .route("PURGE", "/b", |_: &Request| Response::new(204));
        let (_, brew) = answer(&router, "BREW /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&brew), 501);
        let (_, brew) = answer(&router, "BREW /nowhere HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&brew), 501);
        let (_, purge) = answer(&router, "PURGE /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&purge), 405, "routed elsewhere: known");
        let (_, options) = answer(&router, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        let Action::Respond(options) = options else {
            unreachable!()
        };
        assert_eq!(options.status(), 200);
        assert_eq!(
            options.header("allow"),
            Some(&b"GET, HEAD, PURGE, OPTIONS"[..])
        );
    }

    #[test]
    fn a_capture_that_is_not_utf8_is_refused() {
        let router = Router::new().get("/users/{id}", echo_id);
        let (_, action) = answer(&router, "GET /users/%ff HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&action), 400);
    }

    #[test]
    fn the_fallback_answers_what_nothing_matches() {
        let router = Router::new().fallback(|_: &Request| Response::text(410, "gone"));
        let (_, action) = answer(&router, "GET /anything HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status(&action), 410);
    }

    #[test]
    fn bad_routes_are_reported_not_panicked() {
        let conflict = Router::new().get("/{a}", echo_id).get("/{b}", echo_id);
        assert!(
            conflict.error().unwrap().contains("/{b}"),
            "{:?}",
            conflict.error()
        );
        let twice = Router::new().get("/a", echo_id).get("/a", echo_id);
        assert!(twice.error().unwrap().contains("twice"));
        let lower = Router::new().route("get", "/a", echo_id);
        assert!(lower.error().is_some());
        assert!(Router::new().get("/a", echo_id).error().is_none());
    }

    #[test]
    fn a_reused_request_forgets_the_last_captures() {
        let router = Router::new().get("/users/{id}", echo_id).get("/", echo_id);
        let mut req = request("GET /users/7 HTTP/1.1\r\nHost: a\r\n\r\n");
        router.dispatch(&mut req);
        assert_eq!(req.param("id"), Some("7"));
        let fresh = request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        req.head = fresh.head;
        req.method = fresh.method;
        req.target = fresh.target;
        router.dispatch(&mut req);
        assert_eq!(req.param("id"), None);
        assert_eq!(req.route(), Some("/"));
    }
}
