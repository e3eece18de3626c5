// The load generators of the connection benchmarks: shared code, so only the server
// (echo_servers.h) differs between raw, netpoll and libuv. Each runs on the calling thread
// (run_pinned puts it on a CPU), talks to 127.0.0.1:port, verifies every byte that comes back,
// and closes all its connections before returning, so the server sees every end of stream.
//
// Timed clients run for `seconds`, then stop starting work, finish what is in flight and close:
// `ops` / `seconds` is the rate over the timed span; the totals (`conns`, `echoed`) include the
// drain, and are what the server must report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace netpoll::bench {

inline constexpr std::size_t kPingBytes = 5;   // B1, B2, B5: the ping-pong message
inline constexpr std::size_t kChurnBytes = 2;  // B4: written once per connection

struct ClientOut {
  std::string error;          // empty on success; a failed client closed all it had
  std::uint64_t ops = 0;      // round trips / connections / bytes echoed in the timed span
  double seconds = 0;         // the timed span
  std::uint64_t conns = 0;    // connections made and closed, in all
  std::uint64_t echoed = 0;   // bytes sent, received back and verified, in all
  double cpu_ns = 0;          // run_pinned: the client thread's CPU time (getrusage)
  double wall_seconds = 0;    // run_pinned: the client's whole run, drain included
  double rate() const noexcept { return seconds > 0 ? double(ops) / seconds : 0; }
};

// One blocking connection: write 5 bytes, read the 5 back, compare; `rounds` times, or for
// `seconds` when rounds is 0 (B1, and B5's active connection). ops: round trips.
ClientOut blocking_pingpong(int port, std::uint64_t rounds, double seconds);

// `conns` nonblocking connections driven by one edge-triggered epoll loop, each ping-ponging
// 5-byte messages that name the connection and the round (B2). ops: round trips.
ClientOut many_pingpong(int port, int conns, double seconds);

// One connection streaming `chunk`-byte writes of a position-dependent pattern, with at most
// `window` bytes written and not yet echoed (B2's pump). ops: bytes echoed.
ClientOut pump(int port, std::size_t chunk, std::size_t window, double seconds);

// `concurrency` connections at a time, each: connect, write 2 bytes, read the 2-byte echo,
// close, and start over (B4). Sources rotate over 127.0.0.2-127.0.0.251, so the TIME_WAIT
// sockets the client's closes leave do not exhaust the ephemeral ports. ops: connections.
ClientOut churn(int port, int concurrency, double seconds);

// A connected TCP socket to 127.0.0.1:port (TCP_NODELAY on), nonblocking if asked; -1 with
// `err` set on failure.
int connect_loopback(int port, bool nonblocking, std::string& err);

// Runs `client` on a new thread pinned to `cpu` and returns its result, with the thread's CPU
// time and the run's wall time filled in.
ClientOut run_pinned(int cpu, const std::function<ClientOut()>& client);

}  // namespace netpoll::bench
