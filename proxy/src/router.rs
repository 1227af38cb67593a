//! The route table: which path goes where, and what policy applies. Read it top to
//! bottom; the first match wins.

use agent5_bridge::SessionKind;

use crate::filters::rate_limit::BudgetKind;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Ready,
    Metrics,
    /// The Telnyx webhook: its Ed25519 signature is its authentication.
    Webhook,
    /// WebSocket upgrade to a bridge session.
    WebSocket(SessionKind),
    /// Large bodies (CSV imports) to the api crate.
    Upload,
    /// Everything else under `/api` to the api crate.
    Api,
    /// Call recordings (`/api/calls/{id}/recording`, `/recordings/{id}.wav`): bearer
    /// only when `recordings.protect` is on.
    Recording,
    /// The admin console's static files.
    Static,
}

enum Match {
    Exact(&'static str),
    Prefix(&'static str),
}

const TABLE: &[(Match, Route)] = &[
    (Match::Exact("/healthz"), Route::Health),
    (Match::Exact("/readyz"), Route::Ready),
    (Match::Exact("/metrics"), Route::Metrics),
    (Match::Exact("/api/telnyx/events"), Route::Webhook),
    (Match::Exact("/webhooks/telnyx"), Route::Webhook),
    // LiveKit signs its webhooks with a JWT; it cannot send our bearer token.
    (Match::Exact("/api/livekit/webhook"), Route::Webhook),
    (
        Match::Exact("/websocket"),
        Route::WebSocket(SessionKind::Media),
    ),
    (
        Match::Exact("/agent-stream"),
        Route::WebSocket(SessionKind::Studio),
    ),
    (
        Match::Exact("/operator-bridge"),
        Route::WebSocket(SessionKind::Operator),
    ),
    (
        Match::Exact("/monitor"),
        Route::WebSocket(SessionKind::Monitor),
    ),
    (Match::Prefix("/api/prospects/upload"), Route::Upload),
    (Match::Exact("/api/dnc/import"), Route::Upload),
    (Match::Exact("/api"), Route::Api),
    (Match::Prefix("/api/"), Route::Api),
];

pub fn classify(path: &str) -> Route {
    if path.starts_with("/recordings/")
        || (path.starts_with("/api/calls/") && path.ends_with("/recording"))
    {
        return Route::Recording;
    }
    TABLE
        .iter()
        .find(|(m, _)| match m {
            Match::Exact(p) => path == *p,
            Match::Prefix(p) => path.starts_with(p),
        })
        .map_or(Route::Static, |(_, r)| *r)
}

/// Which request body limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyClass {
    None,
    Json,
    Upload,
    Webhook,
}

/// Route class labels, indexed by [`Route::index`].
pub const ROUTE_LABELS: [&str; 9] = [
    "health",
    "ready",
    "metrics",
    "webhook",
    "websocket",
    "upload",
    "api",
    "static",
    "recording",
];

impl Route {
    /// Position in [`ROUTE_LABELS`] (metric handles are cached per route).
    pub fn index(self) -> usize {
        match self {
            Self::Health => 0,
            Self::Ready => 1,
            Self::Metrics => 2,
            Self::Webhook => 3,
            Self::WebSocket(_) => 4,
            Self::Upload => 5,
            Self::Api => 6,
            Self::Static => 7,
            Self::Recording => 8,
        }
    }

    /// Label for metrics and the access log.
    pub fn label(self) -> &'static str {
        ROUTE_LABELS[self.index()]
    }

    pub fn needs_bearer(self) -> bool {
        match self {
            Self::Api | Self::Upload => true,
            Self::WebSocket(kind) => kind.needs_bearer(),
            // Recordings: decided by configuration (see the edge).
            Self::Health
            | Self::Ready
            | Self::Metrics
            | Self::Webhook
            | Self::Static
            | Self::Recording => false,
        }
    }

    /// Whether answers on this route carry personal data (`Cache-Control: no-store`).
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            Self::Api
                | Self::Upload
                | Self::Recording
                | Self::Webhook
                | Self::Metrics
                | Self::Ready
        )
    }

    pub fn budget(self) -> Option<BudgetKind> {
        match self {
            Self::Api | Self::Upload | Self::Recording => Some(BudgetKind::Api),
            Self::Webhook => Some(BudgetKind::Webhook),
            Self::WebSocket(_) => Some(BudgetKind::WebSocket),
            Self::Health | Self::Ready | Self::Metrics | Self::Static => None,
        }
    }

    pub fn body_class(self) -> BodyClass {
        match self {
            Self::Api => BodyClass::Json,
            Self::Upload => BodyClass::Upload,
            Self::Webhook => BodyClass::Webhook,
            _ => BodyClass::None,
        }
    }

    /// Probes are answered without an info-level access-log line.
    pub fn is_probe(self) -> bool {
        matches!(self, Self::Health | Self::Ready | Self::Metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("/healthz", Route::Health),
            ("/readyz", Route::Ready),
            ("/metrics", Route::Metrics),
            ("/api/telnyx/events", Route::Webhook),
            ("/webhooks/telnyx", Route::Webhook),
            ("/websocket", Route::WebSocket(SessionKind::Media)),
            ("/agent-stream", Route::WebSocket(SessionKind::Studio)),
            ("/operator-bridge", Route::WebSocket(SessionKind::Operator)),
            ("/monitor", Route::WebSocket(SessionKind::Monitor)),
            ("/api/prospects/upload", Route::Upload),
            ("/api/prospects/upload_deliveries", Route::Upload),
            ("/api/dnc/import", Route::Upload),
            ("/api/prospects", Route::Api),
            ("/api/calls/abc/recording", Route::Recording),
            ("/recordings/abc.wav", Route::Recording),
            ("/api/calls/abc", Route::Api),
            ("/api", Route::Api),
            ("/apix", Route::Static),
            ("/", Route::Static),
            ("/admin/monitor", Route::Static),
            ("/healthz/x", Route::Static),
        ];
        for (path, route) in cases {
            assert_eq!(classify(path), route, "{path}");
        }
    }

    #[test]
    fn policies() {
        assert!(Route::Api.needs_bearer());
        assert!(!Route::Webhook.needs_bearer());
        assert!(!Route::WebSocket(SessionKind::Media).needs_bearer());
        assert!(Route::WebSocket(SessionKind::Monitor).needs_bearer());
        assert_eq!(Route::Webhook.budget(), Some(BudgetKind::Webhook));
        assert_eq!(Route::Health.budget(), None);
        assert_eq!(Route::Upload.body_class(), BodyClass::Upload);
    }
}
