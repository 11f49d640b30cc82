//! Service roles (`target_id`) of the instant-messaging and tor endpoints, keyed like
//! OONI's `targets.py` (ooni/data): by role, not host name, so that a renamed host stays
//! the same series.

use crate::host::is_ip_literal;

/// The tests whose rows get a role id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Whatsapp,
    Telegram,
    Signal,
    FacebookMessenger,
    /// `target_id` is `tor/<target_protocol>` (set per target by the caller).
    Tor,
    /// web_connectivity, urlgetter, vanilla_tor: no role id.
    None,
}

impl Platform {
    pub(crate) fn from_test_name(test_name: &str) -> Platform {
        match test_name {
            "whatsapp" => Platform::Whatsapp,
            "telegram" => Platform::Telegram,
            "signal" => Platform::Signal,
            "facebook_messenger" => Platform::FacebookMessenger,
            "tor" => Platform::Tor,
            _ => Platform::None,
        }
    }
}

/// `^e\d+\.whatsapp\.net$`
fn is_whatsapp_endpoint(h: &str) -> bool {
    h.strip_prefix('e')
        .and_then(|r| r.strip_suffix(".whatsapp.net"))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `^cdn\d*\.signal\.org$`
fn is_signal_cdn(h: &str) -> bool {
    h.strip_prefix("cdn")
        .and_then(|r| r.strip_suffix(".signal.org"))
        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
}

/// The role of a (normalized) host or IP literal on `platform`, if it is a known one.
///
/// For telegram any IP literal is a member of the data-centre pool (the probe addresses its
/// DCs numerically and the list changes over time).
pub(crate) fn target_id_for(platform: Platform, host: &str) -> Option<&'static str> {
    match platform {
        Platform::Whatsapp => match host {
            "v.whatsapp.net" => Some("whatsapp/registration"),
            "web.whatsapp.com" => Some("whatsapp/web"),
            h if is_whatsapp_endpoint(h) => Some("whatsapp/endpoints"),
            _ => None,
        },
        Platform::Telegram => match host {
            "web.telegram.org" => Some("telegram/web"),
            h if is_ip_literal(h) => Some("telegram/dc_pool"),
            _ => None,
        },
        Platform::Signal => match host {
            "chat.signal.org" | "textsecure-service.whispersystems.org" => Some("signal/chat"),
            "cdsi.signal.org" | "api.directory.signal.org" => Some("signal/directory"),
            "sfu.voip.signal.org" => Some("signal/sfu"),
            "storage.signal.org" => Some("signal/storage"),
            "uptime.signal.org" => Some("signal/uptime"),
            h if is_signal_cdn(h) => Some("signal/cdn"),
            _ => None,
        },
        Platform::FacebookMessenger => match host {
            "star.c10r.facebook.com" => Some("facebook_messenger/star"),
            "b-api.facebook.com" => Some("facebook_messenger/b_api"),
            "b-graph.facebook.com" => Some("facebook_messenger/b_graph"),
            "edge-mqtt.facebook.com" => Some("facebook_messenger/edge"),
            "external.xx.fbcdn.net" => Some("facebook_messenger/external_cdn"),
            "scontent.xx.fbcdn.net" => Some("facebook_messenger/scontent_cdn"),
            "stun.fbsbx.com" => Some("facebook_messenger/stun"),
            _ => None,
        },
        Platform::Tor | Platform::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let w = Platform::Whatsapp;
        assert_eq!(
            target_id_for(w, "e16.whatsapp.net"),
            Some("whatsapp/endpoints")
        );
        assert_eq!(target_id_for(w, "e.whatsapp.net"), None);
        assert_eq!(
            target_id_for(w, "v.whatsapp.net"),
            Some("whatsapp/registration")
        );
        let t = Platform::Telegram;
        assert_eq!(target_id_for(t, "149.154.175.50"), Some("telegram/dc_pool"));
        assert_eq!(target_id_for(t, "web.telegram.org"), Some("telegram/web"));
        let s = Platform::Signal;
        assert_eq!(target_id_for(s, "cdn2.signal.org"), Some("signal/cdn"));
        assert_eq!(target_id_for(s, "cdn.signal.org"), Some("signal/cdn"));
        assert_eq!(target_id_for(Platform::None, "cdn.signal.org"), None);
    }
}
