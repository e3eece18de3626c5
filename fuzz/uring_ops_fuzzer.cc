// Operation-sequence fuzzer over the io_uring backend (netpoll/backends/uring): a real
// UringPoller driven by random submit (receive, send) / peer write / peer read / cancel /
// descriptor cancel and close with number reuse / wait / wake sequences over a few socket
// pairs, checked against a model of what each operation and each stream must do.
//
// Invariants checked (a violation aborts with the step that broke it):
//   - every submitted operation completes exactly once, with one event for its own token and
//     direction, and only after it was submitted; completed() only then;
//   - a cancelled operation's completion still comes (aborted, or its own result if it had
//     completed first); a descriptor cancel completes every call on it before it returns;
//   - bytes: what the receives deliver, in completion order, is exactly a prefix of what the
//     peer wrote, and what the sends report sent arrives at the peer in order;
//   - nothing leaks per input: every operation ends completed, and the process has the same
//     number of open descriptors as before.
#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_input.h"
#include "netpoll/backends/uring/uring_poller.h"

using netpoll::Event;
using netpoll::Timeout;
using netpoll::Token;
using netpoll::UringOperation;
using netpoll::UringPoller;

namespace {

[[noreturn]] void violated(const char* what, int step, long detail = 0) {
  std::fprintf(stderr, "uring_ops: invariant violated at step %d: %s (%ld)\n", step, what, detail);
  std::abort();
}

int open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

constexpr int kPairs = 3;

// One direction's operation slot on one pair's `b` end.
struct Slot {
  UringOperation op;
  bool submitted = false;  // in flight in the model: its completion has not been seen
  bool recv = true;
  int fd = -1;
  std::array<char, 64> buf{};
  unsigned len = 0;
  int events = 0;  // events seen for it since it was submitted
  const bool* closing = nullptr;  // its pair's: set, the call is refused (as FD::enter_io does)

  static bool prepare(UringOperation& op, io_uring_sqe* sqe) noexcept {
    auto* s = static_cast<Slot*>(op.owner());
    if (*s->closing) return false;
    if (s->recv)
      io_uring_prep_recv(sqe, s->fd, s->buf.data(), s->len, 0);
    else
      io_uring_prep_send(sqe, s->fd, s->buf.data(), s->len, MSG_NOSIGNAL);
    return true;
  }
  static void submitted_hook(UringOperation&) noexcept {}
  static constexpr UringOperation::Calls kCalls{&prepare, &submitted_hook};
};

struct Pair {
  int a = -1, b = -1;
  std::uint32_t gen = 0;    // bumped when b is closed and remade (the token changes)
  std::string to_b;         // bytes the peer wrote, not yet delivered by a receive
  std::string to_a;         // bytes the sends reported sent, not yet read by the peer
  std::uint8_t next = 'a';  // the next byte value each side writes (checkable streams)
  Slot rd, wr;
  bool open = false;
  bool closing = false;
};

Token token_of(int i, std::uint32_t gen) { return Token{(std::uint64_t{gen} << 8) | unsigned(i)}; }

struct Model {
  UringPoller& p;
  std::array<Pair, kPairs> pairs;
  int step = 0;

  void open_pair(int i) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    Pair& pr = pairs[static_cast<unsigned>(i)];
    pr.a = sv[0];
    pr.b = sv[1];
    pr.open = true;
    pr.closing = false;
    pr.rd.closing = pr.wr.closing = &pr.closing;
    pr.to_b.clear();
    pr.to_a.clear();
    if (p.register_handle(pr.b, token_of(i, pr.gen))) violated("register", step);
  }

  void submit(int i, bool recv, unsigned len) {
    Pair& pr = pairs[static_cast<unsigned>(i)];
    Slot& s = recv ? pr.rd : pr.wr;
    if (!pr.open || s.submitted) return;
    s.recv = recv;
    s.fd = pr.b;
    s.len = len == 0 ? 1 : len;
    if (!recv)
      for (unsigned k = 0; k < s.len; ++k) s.buf[k] = static_cast<char>(pr.next + k % 26);
    s.events = 0;
    s.op.begin(token_of(i, pr.gen), recv ? Event::kReadable : Event::kWritable)
        ->set_calls(&Slot::kCalls, &s);
    s.submitted = true;
    p.submit(s.op);
  }

  // A completion seen: checks it against the model and applies it.
  void completed(Pair& pr, Slot& s) {
    if (!s.op.completed()) violated("an event for an operation that has not completed", step);
    const auto o = s.op.result();
    if (s.recv) {
      if (o.error == 0) {
        if (o.bytes > s.len) violated("receive longer than its buffer", step);
        if (o.bytes == 0 && !pr.to_b.empty()) violated("end of stream with bytes queued", step);
        if (pr.to_b.compare(0, o.bytes, s.buf.data(), o.bytes) != 0)
          violated("received bytes differ from what the peer wrote", step);
        pr.to_b.erase(0, o.bytes);
      } else if (o.error != ECANCELED && !(o.error == ECONNRESET && pr.a < 0)) {
        // ECONNRESET: the peer closed with bytes it had not read (AF_UNIX resets then).
        violated("receive failed with an unexpected error", step, o.error);
      }
    } else {
      if (o.error == 0) {
        if (o.bytes == 0 || o.bytes > s.len) violated("send count out of range", step);
        pr.to_a.append(s.buf.data(), o.bytes);
        pr.next = static_cast<std::uint8_t>(pr.next + o.bytes % 26);
      } else if (o.error != ECANCELED && o.error != EPIPE && o.error != ECONNRESET) {
        violated("send failed with an unexpected error", step);
      }
    }
    s.submitted = false;
  }

  void wait(Timeout t) {
    Event evs[16];
    auto n = p.wait(evs, t);
    if (!n) violated("wait failed", step);
    for (std::size_t k = 0; k < *n; ++k) {
      const Event& e = evs[k];
      const unsigned i = static_cast<unsigned>(e.token.value & 0xff);
      if (i >= kPairs) violated("event for an unknown token", step);
      Pair& pr = pairs[i];
      if (e.token != token_of(static_cast<int>(i), pr.gen)) {
        violated("event for an old generation's token after its operations completed", step);
      }
      Slot& s = e.flags == Event::kReadable ? pr.rd : pr.wr;
      if (e.flags != Event::kReadable && e.flags != Event::kWritable) violated("event flags", step);
      if (!s.submitted) violated("event for an operation not in flight", step);
      if (++s.events != 1) violated("two events for one operation", step);
      completed(pr, s);
    }
  }

  void peer_write(int i, unsigned n) {
    Pair& pr = pairs[static_cast<unsigned>(i)];
    if (!pr.open || pr.a < 0) return;
    char buf[64];
    for (unsigned k = 0; k < n; ++k) buf[k] = static_cast<char>('A' + (pr.to_b.size() + k) % 26);
    const ssize_t w = ::send(pr.a, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) pr.to_b.append(buf, static_cast<std::size_t>(w));
  }

  void peer_read(int i) {
    Pair& pr = pairs[static_cast<unsigned>(i)];
    if (!pr.open || pr.a < 0) return;
    char buf[256];
    const ssize_t r = ::recv(pr.a, buf, sizeof buf, MSG_DONTWAIT);
    if (r <= 0) return;
    if (pr.to_a.compare(0, static_cast<std::size_t>(r), buf, static_cast<std::size_t>(r)) != 0)
      violated("the peer read bytes the sends did not report sent, or out of order", step);
    pr.to_a.erase(0, static_cast<std::size_t>(r));
  }

  // Waits (bounded) until the pair has no operation in flight.
  void settle(Pair& pr) {
    for (int k = 0; k < 500 && (pr.rd.submitted || pr.wr.submitted); ++k)
      wait(Timeout::after_ns(2'000'000));
    if (pr.rd.submitted || pr.wr.submitted)
      violated("a cancelled operation never completed", step,
               (pr.rd.submitted ? 1 : 0) + (pr.wr.submitted ? 2 : 0) + 10 * long(pr.rd.op.completed()) +
                   100 * long(pr.wr.op.completed()));
  }

  // As FD::close on the polling thread: calls not filled yet are refused, every call in the
  // kernel is cancelled by descriptor, and both ends close once every operation completed;
  // then the number may be reused by the next socketpair.
  void close_pair(int i) {
    Pair& pr = pairs[static_cast<unsigned>(i)];
    if (!pr.open) return;
    pr.closing = true;
    if (pr.rd.submitted || pr.wr.submitted) {
      if (!p.cancel_descriptor(pr.b)) violated("cancel_descriptor refused on the polling thread", step);
    }
    settle(pr);
    (void)p.deregister_handle(pr.b);
    ::close(pr.b);
    if (pr.a >= 0) ::close(pr.a);
    pr.open = false;
    ++pr.gen;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fds0 = open_fds();
  netpoll::fuzz::Input in(data, size);
  {
    UringPoller p;
    Model m{p, {}};
    for (int i = 0; i < kPairs; ++i) m.open_pair(i);
    m.wait(Timeout::zero());  // this thread polls
    while (!in.done() && m.step < 400) {
      ++m.step;
      const unsigned op = in.below(11);
      const int i = static_cast<int>(in.below(kPairs));
      switch (op) {
        case 0: m.submit(i, true, 1 + in.below(64)); break;
        case 1: m.submit(i, false, 1 + in.below(64)); break;
        case 2: m.peer_write(i, 1 + in.below(64)); break;
        case 3: m.peer_read(i); break;
        case 4: {
          Pair& pr = m.pairs[static_cast<unsigned>(i)];
          if (pr.rd.submitted) p.cancel(pr.rd.op);
          break;
        }
        case 5: {
          Pair& pr = m.pairs[static_cast<unsigned>(i)];
          if (pr.wr.submitted) p.cancel(pr.wr.op);
          break;
        }
        case 6:
          m.close_pair(i);
          m.open_pair(i);  // likely the same descriptor numbers again
          break;
        case 7: m.wait(Timeout::zero()); break;
        case 8: m.wait(Timeout::after_ns(200'000)); break;
        case 9:
          p.wake();
          m.wait(Timeout::after_ns(50'000'000));
          break;
        case 10: {  // the peer closes: receives see the end, sends EPIPE
          Pair& pr = m.pairs[static_cast<unsigned>(i)];
          if (pr.open && pr.a >= 0) {
            ::close(pr.a);
            pr.a = -1;
            pr.to_a.clear();
          }
          break;
        }
      }
    }
    // Everything ends: every operation completes (cancelled if need be), nothing stays open.
    for (int i = 0; i < kPairs; ++i) m.close_pair(i);
  }
  if (open_fds() != fds0) {
    std::fprintf(stderr, "uring_ops: descriptors leaked: %d -> %d\n", fds0, open_fds());
    std::abort();
  }
  return 0;
}
