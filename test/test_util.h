// Helpers shared by every suite: descriptors, socket pairs, loopback listeners, event
// collection, a poller thread. One place, so each suite does not grow its own variant.
#pragma once

#include <atomic>
#include <concepts>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "netpoll/core/netpoll.h"
#include "netpoll/contract/event.h"
#include "netpoll/contract/timeout.h"
#include "test/fd.h"
#include "test/portable_util.h"
#include "test/process_stats.h"

namespace netpoll::testing {

struct Pair {
  Fd a, b;
};

// AF_UNIX stream pair, both ends non-blocking and close-on-exec.
Pair unix_pair();
// Connected loopback TCP pair (a = client, b = accepted server side), non-blocking.
Pair tcp_pair();
// A non-blocking listening TCP socket on 127.0.0.1 with an ephemeral port; returns the port.
Fd tcp_listener(std::uint16_t* port);

// A fresh directory /tmp/<prefix>-XXXXXX (short: a Unix socket path must fit sun_path), for
// socket files; removed when it goes out of scope, so whatever was put in it must be gone by
// then (a Listener unlinks its socket file on Close).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Writes all of `data` (the socket buffer must have room); returns bytes written.
std::size_t write_all(int fd, std::string_view data);
// Reads until EAGAIN; returns what was read. Sets *eof if the peer closed.
std::string drain(int fd, bool* eof = nullptr);
// True if read() on fd fails with EAGAIN right now.
bool would_block_read(int fd);
// Closes with SO_LINGER {1, 0} so the peer sees a RST.
void close_with_reset(Fd& fd);

// Waits on the backend until `pred(events so far)` holds or `budget` of waiting elapsed; each
// wait uses `step` as its timeout. Returns the events seen.
template <class B, class Pred>
std::vector<Event> collect_until(B& b, Pred pred, std::chrono::milliseconds budget,
                                 std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
  std::vector<Event> all;
  Event buf[64];
  const auto end = std::chrono::steady_clock::now() + budget;
  while (!pred(all) && std::chrono::steady_clock::now() < end) {
    auto n = b.wait(std::span<Event>(buf), Timeout::after(step));
    if (!n) break;
    all.insert(all.end(), buf, buf + *n);
  }
  return all;
}
// Everything the backend reports within `window` (keeps waiting until the window is over).
template <class B>
std::vector<Event> collect_for(B& b, std::chrono::milliseconds window) {
  return collect_until(b, [](const std::vector<Event>&) { return false; }, window,
                       std::chrono::milliseconds(10));
}
// OR of the flags of all events for `token`, and how many there were.
std::uint32_t flags_for(const std::vector<Event>& evs, Token token, int* count = nullptr);

// For backends that register POSIX descriptors: one end of an AF_UNIX socket pair.
template <class B>
  requires std::same_as<typename B::handle_type, int>
struct IdleHandle<B> {
  Pair p = unix_pair();
  int get() const noexcept { return p.b.get(); }
};

}  // namespace netpoll::testing
