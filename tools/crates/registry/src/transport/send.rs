//! Sending requests: the one place a request is built, authorized, sent, and its redirects
//! followed (credentials only to the origin they were issued for).

use std::io::Read;

use ureq::http::{self, Response};

use super::authorize::Authorization;
use super::failure::{exchange_error, host_of, Deadlines};
use super::origin::{same_origin, Origin};
use super::redirect::{next_hop, MAX_REDIRECTS};
use super::retry::retry_on_status;
use super::{Attempt, Body, Call, Client, Registry, Scope};
use crate::error::{Error, HttpError, Result};
use crate::sync::lock;

/// How long a request may wait for the status line of its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `--timeout`: the registry may be busy.
    Normal,
    /// The connect deadline: a registry's first request (`GET /v2/`), which a server that
    /// answers at all answers at once.
    Brief,
}

/// A request without the registry's own authentication (the probe and the token server).
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
    pub authorization: Option<&'a str>,
    pub wait: Wait,
}

/// A request to `url` with `headers` and, if given, `authorization`.
fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    authorization: Option<&str>,
) -> http::request::Builder {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    builder
}

/// `body` for `method`, with its length.
fn fixed_body(
    builder: http::request::Builder,
    method: &str,
    body: Body<'_>,
) -> (http::request::Builder, ureq::SendBody<'static>) {
    match body {
        Body::Empty if matches!(method, "PUT" | "POST" | "PATCH") => (
            builder.header("Content-Length", "0"),
            ureq::SendBody::none(),
        ),
        Body::Empty => (builder, ureq::SendBody::none()),
        Body::Bytes(bytes) => (
            builder.header("Content-Length", bytes.len().to_string()),
            ureq::SendBody::from_owned_reader(std::io::Cursor::new(bytes.to_vec())),
        ),
    }
}

impl Client {
    /// Sends a request with the authorization its scope needs, renewing the token once when
    /// the registry answers 401 (tokens expire). Statuses are returned, not turned into
    /// errors.
    pub fn send(&self, call: Call<'_>, body: Body<'_>) -> Result<Response<ureq::Body>> {
        self.send_with(call, true, |request| {
            Ok(fixed_body(request, call.method, body))
        })
    }

    /// One try of [`Client::send`], with transport errors and transient statuses turned into
    /// [`Attempt::Retry`] for [`Client::retrying`].
    pub fn attempt(&self, call: Call<'_>, body: Body<'_>) -> Result<Response<ureq::Body>, Attempt> {
        retry_on_status(self.send(call, body).map_err(Attempt::of)?)
    }

    /// One `HEAD` try: the response when the registry has the object (200), `None` when it
    /// does not (404); any other status fails.
    pub fn head(
        &self,
        registry: &Registry,
        url: &str,
        headers: &[(&str, &str)],
        scope: &Scope,
    ) -> Result<Option<Response<ureq::Body>>, Attempt> {
        let call = Call {
            registry,
            method: "HEAD",
            url,
            headers,
            scope,
            bytes: 0,
        };
        let mut response = self.attempt(call, Body::Empty)?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(Attempt::Fail(
                HttpError::from_response(&mut response).into(),
            )),
        }
    }

    /// Sends a request whose body is streamed from `body` (exactly `length` bytes). A 401 is
    /// returned to the caller after invalidating the token: the stream cannot be replayed,
    /// so the caller restarts the upload.
    pub fn send_stream(
        &self,
        call: Call<'_>,
        body: &mut dyn Read,
        length: u64,
    ) -> Result<Response<ureq::Body>> {
        let mut guarded = self.limits.guard(body, &host_of(call.url));
        let mut body = Some(&mut guarded as &mut dyn Read);
        self.send_with(call, false, |request| {
            let reader = body
                .take()
                .ok_or_else(|| Error::Local("a streamed body cannot be sent twice".to_owned()))?;
            Ok((
                request.header("Content-Length", length.to_string()),
                ureq::SendBody::from_reader(reader),
            ))
        })
    }

    fn send_with<'b>(
        &self,
        call: Call<'_>,
        replayable: bool,
        mut with_body: impl FnMut(
            http::request::Builder,
        ) -> Result<(http::request::Builder, ureq::SendBody<'b>)>,
    ) -> Result<Response<ureq::Body>> {
        let Call {
            registry,
            method,
            url,
            headers,
            scope,
            bytes,
        } = call;
        let mut renewed = false;
        loop {
            let knew_challenge = lock(&registry.auth).challenge.is_some();
            let auth = if same_origin(url, &registry.base) {
                self.authorization(registry, scope)?
            } else {
                Authorization::default()
            };
            let header = auth.header.as_deref();
            let (builder, body) = with_body(request(method, url, headers, header))?;
            let response = self.exchange(registry, url, builder, body, (bytes, Wait::Normal))?;
            let (answered_by, mut response) = self.follow_redirects(
                registry,
                (method, url, headers, bytes),
                header.map(|value| (value, registry.base.as_str())),
                response,
            )?;
            if response.status() != 401 {
                return Ok(response);
            }
            if !same_origin(&answered_by, &registry.base) {
                // Refused where the registry redirected to, which got no credentials.
                let refusal = HttpError::from_response(&mut response);
                return Err(Error::Auth(format!(
                    "{refusal} from {}, where registry {} redirected the request: credentials are never sent to another origin, so that host must authorize the request by itself (a signed URL)",
                    host_of(&answered_by),
                    registry.name
                )));
            }
            // Worth one more try: a cached token that has expired, or a challenge we only
            // just learned. Anything else would repeat the same refusal.
            let had_token = self.forget_token(registry, scope, &response);
            let learned = !knew_challenge && lock(&registry.auth).challenge.is_some();
            if !renewed && ((had_token && !auth.fresh) || learned) {
                if !replayable {
                    // The stream is spent; the caller restarts the upload.
                    return Ok(response);
                }
                renewed = true;
                continue;
            }
            let refusal = HttpError::from_response(&mut response);
            let whom = match &auth.origin {
                Some(origin) => format!("the credentials from {origin}"),
                None => "anonymous access: no credentials found for it (docker login, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json or podman's auth.json)".to_owned(),
            };
            return Err(Error::Auth(format!(
                "{refusal}: registry {} denied {} to {whom}",
                registry.name,
                scope.token_scopes().join(" ")
            )));
        }
    }

    /// Follows the redirects a GET or HEAD answered with; returns the URL that gave the final
    /// answer, and the answer. `authorization` goes only to the origin it was issued for; the
    /// other headers (`Accept`) go everywhere.
    fn follow_redirects(
        &self,
        registry: &Registry,
        (method, url, headers, bytes): (&str, &str, &[(&str, &str)], u64),
        authorization: Option<(&str, &str)>,
        mut response: Response<ureq::Body>,
    ) -> Result<(String, Response<ureq::Body>)> {
        let mut current = url.to_owned();
        for _ in 0..MAX_REDIRECTS {
            let Some(next) = next_hop(method, &current, &response)? else {
                return Ok((current, response));
            };
            let header = authorization
                .filter(|(_, origin)| same_origin(&next, origin))
                .map(|(value, _)| value);
            let builder = request(method, &next, headers, header);
            let body = ureq::SendBody::none();
            response = self.exchange(registry, &next, builder, body, (bytes, Wait::Normal))?;
            current = next;
        }
        Err(Error::Content(format!(
            "{url} redirects more than {MAX_REDIRECTS} times"
        )))
    }

    /// A request without the registry's authentication (the probe and the token server),
    /// redirects followed.
    pub(crate) fn raw(&self, registry: &Registry, raw: Raw<'_>) -> Result<Response<ureq::Body>> {
        let Raw {
            method,
            url,
            headers,
            body,
            authorization,
            wait,
        } = raw;
        let (builder, body) =
            fixed_body(request(method, url, headers, authorization), method, body);
        let response = self.exchange(registry, url, builder, body, (0, wait))?;
        let authorization = authorization.map(|value| (value, url));
        let (_, response) =
            self.follow_redirects(registry, (method, url, headers, 0), authorization, response)?;
        Ok(response)
    }

    /// Runs one exchange with `url`, within the deadlines for moving `bytes`.
    fn exchange(
        &self,
        registry: &Registry,
        url: &str,
        builder: http::request::Builder,
        body: ureq::SendBody<'_>,
        (bytes, wait): (u64, Wait),
    ) -> Result<Response<ureq::Body>> {
        let request = builder
            .body(body)
            .map_err(|err| Error::Local(format!("building a request to {url}: {err}")))?;
        let loopback = Origin::of(url).is_some_and(|origin| origin.is_loopback());
        let deadlines = Deadlines {
            connect: self.limits.connect(),
            answer: match wait {
                Wait::Normal => self.limits.timeout,
                Wait::Brief => self.limits.connect(),
            },
            stall: self.limits.timeout,
            whole: self.limits.deadline(bytes),
        };
        let agent = self.agent(registry, url, loopback);
        let request = agent
            .configure_request(request)
            .timeout_recv_response(Some(deadlines.answer))
            .timeout_global(Some(deadlines.whole))
            .build();
        agent
            .run(request)
            .map_err(|err| exchange_error(err, url, &deadlines, loopback))
    }

    /// `reader` (a response body), held to the minimum rate.
    pub(crate) fn guard<R: Read>(&self, reader: R, url: &str) -> super::deadline::RateGuard<R> {
        self.limits.guard(reader, &host_of(url))
    }

    /// The pool for a request to `url`: certificates are verified, except on the very origin
    /// of a registry named insecure (not its token server, not where it redirects to).
    fn agent(&self, registry: &Registry, url: &str, loopback: bool) -> &ureq::Agent {
        let relaxed = registry.insecure && same_origin(url, &registry.base);
        self.agents.pick(loopback, !relaxed)
    }
}
