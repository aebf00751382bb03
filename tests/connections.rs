//! The HTTP listener under stalled, slow and numerous clients, over real TCP: every timeout
//! closes what it should when it should, the connection caps hold, and shutdown ends in
//! bounded time whatever the clients do.

mod support;

mod timeouts {
    //! Every phase in which the server waits on the client ends at its deadline.

    use crate::support::listener::*;
    use mayfly::server::listener::ConnectionLimits;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    async fn stalled_head(limits: ConnectionLimits, sent: &[u8]) -> Duration {
        let server = Server::start(limits).await;
        // Each clock starts before the event that starts the server's deadline, so that a
        // descheduled test task can make a close look late, never early.
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let (elapsed, received) = wait_closed(&mut stream, start, T + SLACK * 2).await;
        assert!(
            received.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
        elapsed
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silent_connection_is_closed_at_header_timeout() {
        let elapsed = stalled_head(fast_limits(), b"").await;
        assert_closed_at("silent connection", elapsed, T);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_request_line_is_closed_at_header_timeout() {
        let elapsed = stalled_head(fast_limits(), b"GET /heal").await;
        assert_closed_at("unfinished request line", elapsed, T);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_headers_are_closed_at_header_timeout() {
        let elapsed = stalled_head(fast_limits(), b"GET /healthz HTTP/1.1\r\nHost: test\r\n").await;
        assert_closed_at("unfinished headers", elapsed, T);
    }

    /// The header timeout is a total: sending a byte now and then does not extend it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trickled_headers_are_closed_at_header_timeout() {
        let server = Server::start(fast_limits()).await;
        let start = Instant::now();
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let trickle = tokio::spawn(async move {
            write.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(25)).await;
                if write.write_all(b"X").await.is_err() {
                    return;
                }
            }
        });
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(
            T + SLACK,
            tokio::io::AsyncReadExt::read(&mut read, &mut buf),
        )
        .await
        .expect("trickling client still connected");
        assert!(matches!(closed, Ok(0) | Err(_)));
        assert_closed_at("trickled headers", start.elapsed(), T);
        trickle.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn body_never_sent_gets_408_at_body_timeout() {
        let server = Server::start(fast_limits()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let start = Instant::now();
        stream
            .write_all(
                b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789",
            )
            .await
            .unwrap();
        let response = read_response(&mut stream).await;
        let elapsed = start.elapsed();
        assert_eq!(response.status, 408, "{}", response.head);
        assert_eq!(response.header("connection").as_deref(), Some("close"));
        assert_eq!(
            response.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            r#"{"code":408,"message":"request body not received within 300ms"}"#
        );
        assert_closed_at("stalled body (408)", elapsed, T);
        let (after, _) = wait_closed(&mut stream, start, SLACK).await;
        eprintln!(
            "stalled body: connection closed {:?} after the 408",
            after - elapsed
        );
    }

    /// The body timeout bounds the whole body, not a gap: a body that keeps trickling in past
    /// the deadline still gets 408.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trickled_body_gets_408_at_body_timeout() {
        let server = Server::start(fast_limits()).await;
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let start = Instant::now();
        write
            .write_all(b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n")
            .await
            .unwrap();
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                if write.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut data = Vec::new();
        let mut buf = [0u8; 1024];
        while !data.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::io::AsyncReadExt::read(&mut read, &mut buf)
                .await
                .unwrap();
            assert!(n > 0);
            data.extend_from_slice(&buf[..n]);
        }
        assert!(
            data.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&data)
        );
        assert_closed_at("trickled body (408)", start.elapsed(), T);
        trickle.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn body_arriving_in_time_is_served() {
        let server = Server::start(fast_limits()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n")
            .await
            .unwrap();
        for _ in 0..4 {
            tokio::time::sleep(T / 6).await;
            stream.write_all(&[b'y'; 25]).await.unwrap();
        }
        let response = read_response(&mut stream).await;
        assert_eq!((response.status, &response.body[..]), (200, &b"100"[..]));
        // And the connection stays usable.
        let response = request(&mut stream, HEALTHZ).await;
        assert_eq!(response.status, 200);
    }

    /// A handler that does not read its body answers at once; hyper cannot reuse a connection
    /// whose body has not arrived, so it closes it after the response.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unread_missing_body_does_not_hold_the_connection() {
        let server = Server::start(fast_limits()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let start = Instant::now();
        let response = request(
            &mut stream,
            "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await;
        assert_eq!(response.status, 200);
        let (elapsed, _) = wait_closed(&mut stream, start, SLACK).await;
        eprintln!("unread missing body: closed after {elapsed:?}");
        assert!(elapsed < T, "{elapsed:?}");
    }

    /// Idle keep-alive has its own timeout, distinct from the header timeout: a connection idle
    /// for longer than the header timeout is still reused, and is closed at the idle timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_keep_alive_is_closed_at_idle_timeout() {
        let limits = ConnectionLimits {
            keep_alive_idle_timeout: T * 2,
            ..fast_limits()
        };
        let server = Server::start(limits).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(request(&mut stream, HEALTHZ).await.status, 200);
        tokio::time::sleep(T + T / 3).await;
        // The server's idle time starts when it has answered, after this.
        let start = Instant::now();
        assert_eq!(request(&mut stream, HEALTHZ).await.status, 200);
        let (elapsed, received) = wait_closed(&mut stream, start, T * 2 + SLACK * 2).await;
        assert!(received.is_empty());
        assert_closed_at("idle keep-alive", elapsed, T * 2);
    }

    /// A request that begins on a keep-alive connection has the header timeout from its first
    /// byte, however long the idle timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unfinished_second_request_is_closed_at_header_timeout() {
        let limits = ConnectionLimits {
            keep_alive_idle_timeout: T * 5,
            ..fast_limits()
        };
        let server = Server::start(limits).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(request(&mut stream, HEALTHZ).await.status, 200);
        tokio::time::sleep(T / 3).await;
        let start = Instant::now();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        let (elapsed, _) = wait_closed(&mut stream, start, T * 5).await;
        assert_closed_at("unfinished second request", elapsed, T);
    }

    /// A client that stops reading a response is closed after the idle timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unread_response_is_closed_at_idle_timeout() {
        let metrics = Metrics::get();
        let before = metrics.value("mayfly_connections_closed_total{reason=send_timeout}");
        let server = Server::start(fast_limits()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // Socket buffers fill within milliseconds on loopback; then writes block.
        let start = Instant::now();
        stream
            .write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let closed = loop {
            let now = metrics.value("mayfly_connections_closed_total{reason=send_timeout}");
            if now > before {
                break start.elapsed();
            }
            assert!(start.elapsed() < T * 2 + SLACK * 2, "still writing");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        eprintln!(
            "unread response: closed after {closed:?} (idle timeout {:?})",
            T * 2
        );
        assert!(
            closed + EARLY >= T * 2 && closed <= T * 2 + SLACK,
            "{closed:?}"
        );
        // The socket now ends after what was buffered (or is reset).
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match tokio::time::timeout(SLACK, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
                .await
                .expect("no end after the buffered data")
            {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            assert!(total < 256 << 20, "server still writing");
        }
        eprintln!("unread response: {total} bytes were buffered");
    }
}

mod caps {
    //! Connection caps: per client address, and in total with eviction of idle connections.

    use crate::support::listener::*;
    use mayfly::server::listener::ConnectionLimits;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    /// A connection the server closes right after accepting it.
    async fn assert_refused(addr: std::net::SocketAddr) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        // Writing may already fail; what matters is that the server closes at once.
        let _ = stream.write_all(HEALTHZ.as_bytes()).await;
        let (elapsed, received) = wait_closed(&mut stream, start, Duration::from_millis(500)).await;
        assert!(
            received.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
        eprintln!("refused connection closed after {elapsed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_client_cap_refuses_and_recovers() {
        let metrics = Metrics::get();
        let refused = "mayfly_connections_refused_total{reason=max_connections_per_client}";
        let before = metrics.value(refused);
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections_per_ip: 3,
            ..fast_limits()
        };
        let server = Server::start(limits).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(server.addr).await.unwrap());
        }
        // The third is a working connection.
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(request(&mut third, HEALTHZ).await.status, 200);
        held.push(third);
        assert_refused(server.addr).await;
        assert_refused(server.addr).await;
        assert_eq!(metrics.value(refused) - before, 2.0);
        // One closes: the server notices the EOF and the client may connect again.
        drop(held.remove(0));
        let start = Instant::now();
        loop {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            let _ = stream.write_all(HEALTHZ.as_bytes()).await;
            let (_, received) = wait_closed_or_response(&mut stream).await;
            if received.starts_with(b"HTTP/1.1 200") {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "slot never freed");
        }
        eprintln!("per-client slot free again after {:?}", start.elapsed());
    }

    /// Reads until a complete response head arrives or the connection closes.
    async fn wait_closed_or_response(stream: &mut TcpStream) -> (Duration, Vec<u8>) {
        let start = Instant::now();
        let mut data = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(
                Duration::from_secs(1),
                tokio::io::AsyncReadExt::read(stream, &mut buf),
            )
            .await
            .expect("neither response nor close")
            {
                Ok(0) | Err(_) => return (start.elapsed(), data),
                Ok(n) => {
                    data.extend_from_slice(&buf[..n]);
                    if data.windows(4).any(|w| w == b"\r\n\r\n") {
                        return (start.elapsed(), data);
                    }
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn total_cap_evicts_the_oldest_idle_connection() {
        let metrics = Metrics::get();
        let evicted = "mayfly_connections_closed_total{reason=evicted}";
        let before = metrics.value(evicted);
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4,
            ..fast_limits()
        };
        let server = Server::start(limits).await;
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(TcpStream::connect(server.addr).await.unwrap());
            // Distinct accept times, so "oldest" is well defined.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let start = Instant::now();
        let took = healthz(server.addr).await;
        eprintln!("healthz at the cap (evicting): {took:?}");
        let (elapsed, _) = wait_closed(&mut idle[0], start, Duration::from_millis(500)).await;
        eprintln!("oldest idle connection closed after {elapsed:?}");
        assert_eq!(metrics.value(evicted) - before, 1.0);
        // The others are still open: a request on the newest works.
        assert_eq!(request(&mut idle[3], HEALTHZ).await.status, 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn total_cap_refuses_when_every_connection_is_busy() {
        let metrics = Metrics::get();
        let refused = "mayfly_connections_refused_total{reason=max_connections}";
        let before = metrics.value(refused);
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let limits = ConnectionLimits {
            max_connections: 2,
            ..fast_limits()
        };
        let server = Server::start_with(router(Some(started_tx)), limits).await;
        let mut busy = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream
                .write_all(
                    b"POST /slow HTTP/1.1\r\nHost: t\r\nX-Delay-Ms: 1000\r\nContent-Length: 1\r\n\r\nz",
                )
                .await
                .unwrap();
            started.recv().await.unwrap();
            busy.push(stream);
        }
        assert_refused(server.addr).await;
        assert_eq!(metrics.value(refused) - before, 1.0);
        for mut stream in busy {
            let response = read_response(&mut stream).await;
            assert_eq!((response.status, &response.body[..]), (200, &b"1"[..]));
        }
    }
}

mod shutdown {
    //! Shutdown: stalled connections do not hold it up; requests in progress finish within the
    //! grace period, and are cut off after it.

    use crate::support::listener::*;
    use mayfly::server::listener::ConnectionLimits;
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_closes_stalled_clients_and_lets_requests_finish() {
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            keep_alive_idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(2),
            ..fast_limits()
        };
        let mut server = Server::start_with(router(Some(started_tx)), limits).await;
        let mut stalled = Vec::new();
        for _ in 0..3 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
                .await
                .unwrap();
            stalled.push(stream);
        }
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(request(&mut idle, HEALTHZ).await.status, 200);
        let mut in_flight = TcpStream::connect(server.addr).await.unwrap();
        in_flight
            .write_all(
                b"POST /slow HTTP/1.1\r\nHost: t\r\nX-Delay-Ms: 500\r\nContent-Length: 3\r\n\r\nabc",
            )
            .await
            .unwrap();
        started.recv().await.unwrap();

        let start = Instant::now();
        server.shutdown();
        for (i, stream) in stalled.iter_mut().enumerate() {
            let (elapsed, _) = wait_closed(stream, start, Duration::from_millis(500)).await;
            eprintln!("stalled client {i} closed {elapsed:?} after shutdown");
            assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
        }
        let (elapsed, _) = wait_closed(&mut idle, start, Duration::from_millis(500)).await;
        eprintln!("idle keep-alive closed {elapsed:?} after shutdown");
        // New connections are refused once shutdown has started.
        assert!(TcpStream::connect(server.addr).await.is_err());
        let response = read_response(&mut in_flight).await;
        assert_eq!((response.status, &response.body[..]), (200, &b"3"[..]));
        assert_eq!(response.header("connection").as_deref(), Some("close"));
        let result = tokio::time::timeout(Duration::from_secs(2) + SLACK, &mut server.task)
            .await
            .expect("serve did not return within the grace period");
        result.unwrap().unwrap();
        let returned = start.elapsed();
        eprintln!("serve returned {returned:?} after shutdown (slow request: 500ms)");
        assert!(
            returned < Duration::from_millis(500) + SLACK,
            "{returned:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_grace_cuts_off_requests_that_take_too_long() {
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let limits = ConnectionLimits {
            shutdown_grace: T,
            // Longer than the grace period: the grace period, not the body timeout, must end
            // the stalled upload below.
            body_read_timeout: Duration::from_secs(10),
            ..fast_limits()
        };
        let mut server = Server::start_with(router(Some(started_tx)), limits).await;
        let mut in_flight = TcpStream::connect(server.addr).await.unwrap();
        in_flight
            .write_all(
                b"POST /slow HTTP/1.1\r\nHost: t\r\nX-Delay-Ms: 5000\r\nContent-Length: 1\r\n\r\na",
            )
            .await
            .unwrap();
        started.recv().await.unwrap();
        // A client stalled in its body: a request in progress that will never finish.
        let mut stalled_body = TcpStream::connect(server.addr).await.unwrap();
        stalled_body
            .write_all(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let start = Instant::now();
        server.shutdown();
        let result = tokio::time::timeout(T + SLACK, &mut server.task)
            .await
            .expect("serve did not return after the grace period");
        result.unwrap().unwrap();
        let returned = start.elapsed();
        assert_closed_at("serve after the grace period", returned, T);
        let (_, received) = wait_closed(&mut in_flight, start, SLACK).await;
        assert!(
            received.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
    }
}
