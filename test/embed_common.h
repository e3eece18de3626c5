// The workloads shared by the embedding tests (netpoll/adapters/uv_test.cc, embed_poll_test.cc,
// embed_epoll_et_test.cc): what an embedded net::Loop serves, and the plain-POSIX clients that drive it from other threads.
//
// The host loop is the only thing that differs between the tests, so everything here is
// host-agnostic: coroutines that run on the Loop (whichever host steps it) and clients that
// never touch netpoll (the Loop runs only inside the host, so netpoll's blocking mode, which
// needs a thread running the Loop, is deliberately not used on the client side).
//
// Nothing here asserts: coroutines and client threads record what happened, and the test
// checks the records on its own thread after the host loop has returned. (A failing REQUIRE
// inside a coroutine would throw through a noexcept resume and terminate the run.)
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

#include "netpoll/net/net.h"
#include "test/process_stats.h"

namespace netpoll::embed_test {

using Clock = std::chrono::steady_clock;

// Every blocking call a client makes gives up after this long, so a server that never answers
// fails the test instead of hanging it.
inline constexpr std::chrono::seconds kClientTimeout{20};
// How long a host loop may run in one test case before it gives up and fails the test.
inline constexpr std::chrono::seconds kHostSafetyTimeout{30};

// --- echo --------------------------------------------------------------------------------------

// Written by the coroutines on the Loop (host) thread only; read by the test after the host
// loop has returned.
struct EchoRecord {
  int accepted = 0;          // connections accepted
  int finished = 0;          // connections served to end of stream without error
  std::size_t echoed = 0;    // bytes written back
  int errors = 0;
  std::string first_error;   // the first failure, for the test log
  void fail(std::string what);
};

// Accepts `expected` connections on `ln` and serves each in its own spawned coroutine (read,
// write back, until end of stream). Returns once all are accepted; the connections may still
// be running, so the host waits for loop.spawned() to reach 0. `ln` and `rec` must outlive
// every spawned coroutine.
net::Task<void> echo_server(net::Loop& loop, net::Listener& ln, int expected, EchoRecord& rec);

// A client on a plain blocking socket: `conns` connections one after another to 127.0.0.1:port,
// each sending `bytes` random bytes (from `seed`) in random-sized chunks, reading each chunk's
// echo back and comparing it byte for byte, then half-closing and expecting end of stream.
// Returns "" on success, otherwise what went wrong.
std::string echo_client(std::uint16_t port, int conns, std::size_t bytes, std::uint32_t seed);

// --- timers through the host -------------------------------------------------------------------

struct SleepRecord {
  bool done = false;
  Clock::duration elapsed{};
};
// co_await sleep_for(loop, d); records how long it really took.
net::Task<void> sleeper(net::Loop& loop, Clock::duration d, SleepRecord& rec);

struct DeadlineRecord {
  bool accepted = false;
  // The accepted connection, published for another thread to set its deadline; valid until
  // the Read has returned.
  std::atomic<net::Conn*> conn{nullptr};
  std::error_code read_error;        // the Read parked past its deadline: deadline_exceeded
  Clock::duration elapsed{};         // from just before the server sets d to the Read's return
  Clock::time_point read_returned{};
  bool read_after_clear_ok = false;  // with the deadline cleared, reading works again
  bool done = false;
  std::string first_error;
};
// Accepts one connection whose client stays silent, parks a Read on it with a read deadline
// `d` ahead (or none if d is zero: someone else sets it through rec.conn), expects
// Errc::deadline_exceeded, then clears the deadline, writes "done" and reads the client's "bye"
// (Go: a connection stays usable after a deadline expires).
net::Task<void> deadline_server(net::Listener& ln, Clock::duration d, DeadlineRecord& rec);
// The silent client for deadline_server: connects, sends nothing until it reads "done", then
// sends "bye" and waits for the close. "" on success.
std::string silent_client(std::uint16_t port);

// --- an idle host with timers armed ------------------------------------------------------------

// Spawns a Dial to `ln` and an Accept on it; each side then parks a Read with a read deadline
// an hour ahead: two netpoll timers armed, never due during a test. `parked` counts the sides
// about to park (the Read parks in the same step); both Reads end (++ended) when shutdown()
// evicts their connections.
void spawn_parked_pair(net::Loop& loop, net::Listener& ln, int& parked, int& ended);
// The calling thread's CPU time so far (user + system), in ms: for the test log.
inline double thread_cpu_ms() { return static_cast<double>(testing::this_thread_cpu_ns()) / 1e6; }

// --- a full batch ------------------------------------------------------------------------------

// Opens `conns` connections to 127.0.0.1:port, waits until `accepted` (published by the host
// thread) reaches `conns`, then closes them all at once and sets `closed`: as many
// end-of-stream events at once as there are connections. `before_close` runs just before the
// closes. "" on success (`closed` is set on failure too, so nobody waits for it forever).
std::string burst_close_client(std::uint16_t port, int conns, const std::atomic<int>& accepted,
                               std::atomic<bool>& closed, const std::function<void()>& before_close);

}  // namespace netpoll::embed_test
