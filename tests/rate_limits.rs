//! Rate limits with bounded memory, and the client address behind trusted proxies.

mod limiter {
    use std::num::NonZeroUsize;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use mayfly::ratelimit::{Rate, RateError, RateLimiter, RetryAfter};

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn limiter(rate: &str, capacity: usize) -> RateLimiter {
        RateLimiter::new(Rate::parse(rate).unwrap(), cap(capacity))
    }

    #[test]
    fn rates_parse() {
        let per = |amount, secs| Rate::PerPeriod {
            amount,
            period: Duration::from_secs(secs),
        };
        for (s, want) in [
            ("60/min", per(60, 60)),
            ("10/s", per(10, 1)),
            ("3600/h", per(3600, 3600)),
            ("1000/d", per(1000, 86_400)),
            (" 5 / Minute ", per(5, 60)),
            ("2/sec", per(2, 1)),
            ("0", Rate::Off),
            ("0/min", Rate::Off),
        ] {
            assert_eq!(Rate::parse(s), Ok(want), "{s}");
        }
        assert_eq!("60/min".parse::<Rate>().unwrap().to_string(), "60/min");
        assert_eq!(Rate::Off.to_string(), "0");
    }

    #[test]
    fn bad_rates_have_clear_errors() {
        let msg = |s: &str| Rate::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg(""),
            "empty rate: expected N/s, N/min, N/h or N/d (e.g. 60/min), or 0 for no limit"
        );
        assert_eq!(
            msg("60"),
            "invalid rate \"60\": expected N/s, N/min, N/h or N/d (e.g. 60/min), or 0 for no limit"
        );
        assert_eq!(
            msg("60/m"),
            "invalid rate \"60/m\": unknown unit \"m\"; use s, min, h or d"
        );
        assert_eq!(
            msg("sixty/min"),
            "invalid rate \"sixty/min\": \"sixty\" is not a whole number of requests"
        );
        for s in ["-1/s", "+5/s", "1.5/s", "/s", "1e3/s"] {
            assert!(
                matches!(Rate::parse(s), Err(RateError::Amount { .. })),
                "{s}"
            );
        }
        assert_eq!(
            msg("99999999999/s"),
            "invalid rate \"99999999999/s\": at most 1000000000 requests per period"
        );
        assert!(matches!(
            Rate::parse("60/min/x"),
            Err(RateError::Unit { .. })
        ));
    }

    #[test]
    fn burst_then_limit_with_exact_retry_after() {
        let l = limiter("60/min", 1000);
        let t0 = Instant::now();
        for i in 0..60 {
            assert_eq!(l.check("alice", t0), Ok(()), "request {i} of the burst");
        }
        // One token per second: the 61st request may retry in exactly 1 s.
        assert_eq!(
            l.check("alice", t0),
            Err(RetryAfter(Duration::from_secs(1)))
        );
        // Denials cost nothing: asking again gives the same answer.
        assert_eq!(
            l.check("alice", t0),
            Err(RetryAfter(Duration::from_secs(1)))
        );
        let almost = t0 + Duration::from_secs(1) - Duration::from_nanos(1);
        assert_eq!(
            l.check("alice", almost),
            Err(RetryAfter(Duration::from_nanos(1)))
        );
        assert_eq!(l.check("alice", t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(
            l.check("alice", t0 + Duration::from_secs(1)),
            Err(RetryAfter(Duration::from_secs(1)))
        );
        // Other keys have their own budget.
        assert_eq!(l.check("bob", t0), Ok(()));
    }

    #[test]
    fn refill() {
        let l = limiter("10/s", 1000);
        let t0 = Instant::now();
        for _ in 0..10 {
            l.check("k", t0).unwrap();
        }
        assert_eq!(
            l.check("k", t0),
            Err(RetryAfter(Duration::from_millis(100)))
        );
        // Half a period refills half the burst.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            l.check("k", t1).unwrap();
        }
        assert!(l.check("k", t1).is_err());
        // A whole idle period refills the whole burst, and no more.
        let t2 = t1 + Duration::from_secs(10);
        for _ in 0..10 {
            l.check("k", t2).unwrap();
        }
        assert!(l.check("k", t2).is_err());
    }

    #[test]
    fn steady_rate_at_the_limit_is_allowed() {
        let l = limiter("3600/h", 1000);
        let t0 = Instant::now();
        for _ in 0..3600 {
            l.check("k", t0).unwrap();
        }
        // One per second keeps being allowed, one more is not.
        for s in 1..100 {
            let t = t0 + Duration::from_secs(s);
            assert_eq!(l.check("k", t), Ok(()));
            assert!(l.check("k", t).is_err());
        }
    }

    #[test]
    fn retry_after_header_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_nanos(1)).header_secs(), 1);
        assert_eq!(RetryAfter(Duration::ZERO).header_secs(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(1)).header_secs(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(1500)).header_secs(), 2);
        assert_eq!(RetryAfter(Duration::from_secs(59)).header_secs(), 59);
    }

    #[test]
    fn off_never_limits_and_holds_nothing() {
        let l = limiter("0", 1000);
        let t0 = Instant::now();
        for i in 0..10_000 {
            assert_eq!(l.check(&format!("k{}", i % 3), t0), Ok(()));
        }
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn capacity_is_a_multiple_of_the_shard_count() {
        assert_eq!(limiter("1/s", 1).capacity(), 1);
        assert_eq!(limiter("1/s", 5).capacity(), 4);
        assert_eq!(limiter("1/s", 100).capacity(), 96);
        assert_eq!(limiter("1/s", 100_000).capacity(), 100_000);
    }

    #[test]
    fn memory_stays_bounded_with_two_million_keys() {
        let l = limiter("60/h", 50_000);
        let cap = l.capacity();
        let t0 = Instant::now();
        // An actively limited key, checked throughout the flood, stays limited: it is always
        // near the recently-used end, so the flood evicts idle keys instead.
        for _ in 0..60 {
            l.check("victim", t0).unwrap();
        }
        let mut key = String::with_capacity(32);
        for i in 0..2_000_000u32 {
            use std::fmt::Write;
            key.clear();
            write!(key, "spiffe://flood/{i}").unwrap();
            // Time advances 1 µs per request: the flood spans 2 s, in which the victim earns back
            // nothing of its 60/h budget (one token a minute).
            let now = t0 + Duration::from_micros(u64::from(i));
            assert_eq!(l.check(&key, now), Ok(()));
            if i % 1000 == 0 {
                assert!(l.check("victim", now).is_err(), "victim forgotten at {i}");
            }
            if i % 250_000 == 0 {
                assert!(l.len() <= cap);
            }
        }
        assert_eq!(
            l.len(),
            cap,
            "the table fills up to, and not past, its capacity"
        );
    }

    #[test]
    fn concurrent_checks_grant_exactly_the_burst() {
        let l = Arc::new(limiter("100/min", 1000));
        let t0 = Instant::now();
        let allowed: usize = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    (0..100).filter(|_| l.check("shared", t0).is_ok()).count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 100);
    }

    /// The price of bounded memory, pinned down: a limited key that goes idle while more distinct
    /// keys than the table holds arrive is forgotten, and starts again with a full burst.
    #[test]
    fn an_idle_limited_key_can_be_flooded_out() {
        let l = limiter("60/h", 1000);
        let t0 = Instant::now();
        for _ in 0..60 {
            l.check("idle", t0).unwrap();
        }
        assert!(l.check("idle", t0).is_err());
        for i in 0..10_000 {
            l.check(&format!("flood-{i}"), t0).unwrap();
        }
        assert!(l.len() <= l.capacity());
        assert_eq!(l.check("idle", t0), Ok(()));
    }
}

mod client_address {
    use std::net::IpAddr;

    use ipnet::IpNet;
    use mayfly::ratelimit::{CidrError, client_address, parse_trusted_proxy, rate_limit_key};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| parse_trusted_proxy(s).unwrap())
            .collect()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("203.0.113.7");
        assert_eq!(client_address(peer, Some("198.51.100.1"), &trusted), peer);
        assert_eq!(client_address(peer, None, &trusted), peer);
        // No trusted proxies configured: the header is ignored.
        assert_eq!(client_address(peer, Some("198.51.100.1"), &[]), peer);
    }

    #[test]
    fn trusted_proxy_hands_over_to_the_header() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.6");
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        assert_eq!(
            client_address(proxy, Some("203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
        // Two proxies: CDN edge 10.0.0.5 forwarded to the load balancer 10.0.0.6.
        assert_eq!(
            client_address(proxy, Some("203.0.113.7, 10.0.0.5"), &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_left_entries_are_ignored() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.6");
        // The client sent `X-Forwarded-For: 1.1.1.1, 10.9.9.9`; the proxy appended its real address.
        assert_eq!(
            client_address(proxy, Some("1.1.1.1, 10.9.9.9, 203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
        // Garbage the client put on the left is never parsed.
        assert_eq!(
            client_address(proxy, Some("<script>, unknown,,203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn malformed_reachable_entries_fall_back_to_the_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.6");
        for header in [
            "",
            " ",
            ",",
            "203.0.113.7, unknown",
            "203.0.113.7,",
            "not-an-ip",
            "203.0.113.7:x",
        ] {
            assert_eq!(
                client_address(proxy, Some(header), &trusted),
                proxy,
                "{header:?}"
            );
        }
    }

    #[test]
    fn all_trusted_hops_give_the_leftmost() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("10.0.0.6"), Some("10.1.1.1, 10.0.0.5"), &trusted),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let proxy = ip("10.0.0.6");
        assert_eq!(
            client_address(proxy, Some("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(proxy, Some("203.0.113.7:5555"), &trusted),
            ip("203.0.113.7")
        );
        // IPv4-mapped entries and peers compare and come back as IPv4.
        assert_eq!(
            client_address(ip("::ffff:10.0.0.6"), Some("::ffff:203.0.113.7"), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("::ffff:203.0.113.9"), Some("1.1.1.1"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(
                ip("2001:db8:ffff::1"),
                Some("2001:db8:1::5, 2001:db8:ffff::2"),
                &trusted
            ),
            ip("2001:db8:1::5")
        );
    }

    #[test]
    fn trusted_proxy_parsing() {
        let ok = |s: &str| parse_trusted_proxy(s).unwrap().to_string();
        assert_eq!(ok("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(ok(" 10.1.2.3 "), "10.1.2.3/32");
        assert_eq!(ok("2001:db8::/32"), "2001:db8::/32");
        assert_eq!(ok("::1"), "::1/128");
        assert_eq!(ok("::ffff:10.0.0.0/104"), "10.0.0.0/8");
        assert_eq!(ok("0.0.0.0/0"), "0.0.0.0/0");

        let err = |s: &str| parse_trusted_proxy(s).unwrap_err().to_string();
        assert_eq!(
            err(""),
            "empty trusted proxy: expected an address or CIDR such as 10.0.0.0/8 or 2001:db8::/32"
        );
        assert_eq!(
            err("10.0.0/8"),
            "invalid trusted proxy \"10.0.0/8\": \"10.0.0\" is not an IPv4 or IPv6 address"
        );
        assert_eq!(
            err("10.0.0.0/33"),
            "invalid trusted proxy \"10.0.0.0/33\": prefix length 33 is longer than 32"
        );
        assert_eq!(
            err("10.0.0.0/"),
            "invalid trusted proxy \"10.0.0.0/\": prefix length \"\" is not a number"
        );
        assert_eq!(
            err("fe80::/999"),
            "invalid trusted proxy \"fe80::/999\": prefix length 255 is longer than 128"
        );
        assert_eq!(
            err("10.1.2.3/8"),
            "invalid trusted proxy \"10.1.2.3/8\": bits are set after the prefix; did you mean 10.0.0.0/8?"
        );
        assert!(matches!(
            parse_trusted_proxy("proxy.internal"),
            Err(CidrError::Address { .. })
        ));
    }

    #[test]
    fn rate_limit_keys_group_ipv6_by_slash_64() {
        assert_eq!(rate_limit_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(rate_limit_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:bbbb::9")),
            rate_limit_key(ip("2001:db8:1:2::1"))
        );
    }
}
