// The echo handler every echo server example serves (echo_server and its hosted siblings).
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "examples/buffer_pool.h"
#include "netpoll/net/net.h"

namespace netpoll::examples {

// Echoes until the peer half-closes (then returning closes the connection, so the peer reads
// EOF after the last echoed byte), an error, or shutdown (Errc::closed).
//
// Idle, a connection holds no buffer: it waits with Readable, then borrows a 64 KiB buffer
// (a whole loopback burst in one read(2)) from this thread's pool for one Read and its Write.
inline net::Task<void> echo(net::Conn& c) {
  for (;;) {
    if (co_await c.Readable()) break;  // an error, or shutdown
    auto buf = echo_buffers().take([] { return std::make_unique<EchoBuffer>(); });
    Result<std::size_t> n = co_await c.Read(std::span<std::byte>(*buf));
    if (!n || *n == 0) break;
    // Write sends all n bytes (it parks while the peer is not reading), so nothing more is
    // read from this peer until its echo is out: the peer's backlog is its own to drain.
    Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(buf->data(), *n));
    if (!w) break;
  }  // the lease goes back to the pool at the end of each round
}

}  // namespace netpoll::examples
