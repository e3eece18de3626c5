// A minimal HTTP/1.1 server connection for benchmarks: every request is answered with
// "Hello, World!" (TechEmpower's plaintext test), parsing only what framing and keep-alive
// need.
//
// Per busy connection: one Session (fixed input and output buffers), borrowed from the
// thread's Server while the connection has bytes pending (an idle one waits with
// Conn::Readable and holds none). Per batch of input: one read(2), every complete request in
// it answered in order into the output buffer, one write(2). Nothing is allocated once the
// pool has a Session for each connection busy at once.
//
// What is parsed: the request line (method, target, HTTP/1.x), header lines up to the blank
// line, and of the headers only Connection, Content-Length and Transfer-Encoding. Request
// bodies framed by Content-Length are skipped (the response may go out before the body has
// arrived); Transfer-Encoding (chunked bodies) is answered 501 and the connection closed.
// Lenient where real clients differ and framing is not at stake: bare LF line ends are
// accepted, blank lines before a request line are skipped, and Host is not required.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "examples/buffer_pool.h"
#include "netpoll/net/net.h"

namespace netpoll::examples::http {

// The request line, headers and blank line together; larger heads are answered 431.
inline constexpr std::size_t kMaxHead = 8 * 1024;
// Input buffer. Invariant: between batches at most kMaxHead - 1 unparsed bytes are kept, so
// every read has at least kInCap - kMaxHead + 1 bytes of room (an empty read would look
// like end of stream).
inline constexpr std::size_t kInCap = 16 * 1024;
// Output buffer: when the next response might not fit, the batch is written out and parsing
// resumes (a batch of tiny pipelined requests can need more than one write).
inline constexpr std::size_t kOutCap = 32 * 1024;

inline constexpr std::string_view kBody = "Hello, World!";

// The fixed-length IMF-fixdate of RFC 7231 7.1.1.1: "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t kDateLen = 29;
void format_imf_fixdate(std::time_t t, char out[kDateLen]) noexcept;

// Every response the server sends, preformatted, with the Date patched in place at most once
// per (wall-clock) second. Used from one thread (the Loop's).
class Responses {
 public:
  enum Kind : std::uint8_t {
    ok,                   // 200, HTTP/1.1 persistent (no Connection header needed)
    ok_close,             // 200 + "Connection: close"
    ok_keep_alive,        // 200 + "Connection: keep-alive" (an HTTP/1.0 client that asked for it)
    bad_request,          // 400 and close
    too_large,            // 431 and close
    not_implemented,      // 501 and close
    version_unsupported,  // 505 and close
    kKinds,
  };
  Responses();  // formats with the current time (allocates: once per server)
  // Reads the wall clock's seconds (std::time: a vDSO or commpage read with glibc and on
  // macOS, a syscall where the clock has no vDSO) and re-dates the responses if the second
  // changed. Called once per batch, so an idle server sets no timer and a Date is never more
  // than a second stale when it is sent.
  void refresh() noexcept;
  // As refresh, for a given time (tests).
  void set_time(std::time_t t) noexcept;
  std::string_view get(Kind k) const noexcept { return text_[k]; }
  // The 200 responses end with the body; a HEAD response stops before it.
  static bool has_body(Kind k) noexcept { return k <= ok_keep_alive; }

 private:
  std::array<std::string, kKinds> text_;  // never resized after construction
  std::array<std::size_t, kKinds> date_at_{};
  std::time_t second_ = -1;
};

// The head of one request, as far as the server acts on it. Views point into the input.
struct Request {
  std::string_view method;
  std::string_view target;
  int minor = 1;  // HTTP/1.<minor>
  bool keep_alive = true;
  std::uint64_t content_length = 0;
};

enum class Parse : std::uint8_t { ok, bad_request, not_implemented, version_unsupported };

// Looks for the end of a head (an empty line, CRLF or LF) within the first kMaxHead bytes of
// `in`. Returns the head's length including that empty line, or 0 if there is none yet.
// `*scan` carries the search position between calls on a growing input (start it at 0), so a
// head arriving byte by byte is scanned once in total, not once per read.
std::size_t find_head_end(std::string_view in, std::size_t* scan) noexcept;

// Parses a complete head (as delimited by find_head_end) into `r`.
Parse parse_head(std::string_view head, Request& r) noexcept;

// The protocol state of one connection, with its buffers. No I/O: the caller reads into
// read_space(), reports it with received(), calls process() and writes output().
class Session {
 public:
  enum class Next : std::uint8_t {
    read,   // output() (possibly empty) then read more
    write,  // output() is full: write it, then process() again before reading
    close,  // write output() (the last response) and close
  };

  explicit Session(Responses& responses) noexcept : responses_(&responses) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Room for the next read, after moving a partial request to the front. Never empty.
  std::span<std::byte> read_space() noexcept;
  void received(std::size_t n) noexcept { in_len_ += n; }
  // Answers every complete request that fits the output, in order.
  Next process() noexcept;

  std::span<const std::byte> output() const noexcept {
    return std::as_bytes(std::span<const char>(out_.data(), out_len_));
  }
  void clear_output() noexcept { out_len_ = 0; }
  // After Next::close: whether the peer may have sent bytes nothing read (the rest of a
  // pipeline, an unread body, an oversized head). Closing on unread input makes the kernel
  // send RST, which can destroy the final response before the peer reads it; the caller
  // should then half-close and drain first.
  bool unread_input() const noexcept { return in_pos_ < in_len_ || skip_ > 0; }
  // Scratch room to drain into after Next::close.
  std::span<std::byte> drain_space() noexcept { return std::as_writable_bytes(std::span(in_)); }
  // Nothing pending: no unparsed input, no body to skip, no output, not closing. The Session
  // then carries no state, and serve_conn gives it back to its pool until the next bytes.
  bool idle() const noexcept {
    return in_pos_ == in_len_ && skip_ == 0 && out_len_ == 0 && !closing_;
  }
  // Back to the state of a new Session (for reuse by another connection).
  void reset() noexcept {
    in_pos_ = in_len_ = scan_ = out_len_ = 0;
    skip_ = 0;
    closing_ = false;
  }

 private:
  void respond(Responses::Kind k, bool body) noexcept;

  Responses* responses_;
  std::size_t in_pos_ = 0;  // start of the first unparsed byte
  std::size_t in_len_ = 0;
  std::size_t scan_ = 0;    // find_head_end's position in the pending head
  std::uint64_t skip_ = 0;  // body bytes of the last request still to discard
  std::size_t out_len_ = 0;
  bool closing_ = false;
  std::array<char, kInCap> in_;
  std::array<char, kOutCap> out_;
};

// The Sessions of one Loop thread's connections, and the responses they share: a connection
// borrows a Session (48 KiB of buffers) when bytes arrive and gives it back once it is idle, so
// an idle keep-alive connection holds none. Used from one thread (the Loop's).
class Server {
 public:
  Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Pool<Session>::Lease take() {
    Pool<Session>::Lease s = sessions_.take([this] { return std::make_unique<Session>(responses_); });
    s->reset();
    return s;
  }
  std::size_t sessions() const noexcept { return sessions_.size(); }  // made so far
  Responses& responses() noexcept { return responses_; }

 private:
  Responses responses_;
  Pool<Session> sessions_;
};

// Serves one connection until the peer closes it, an error, a response that closes it, or
// Errc::closed (shutdown). Waits for bytes with Conn::Readable and holds a Session from
// `server` only while the connection has something pending.
net::Task<void> serve_conn(net::Conn& c, Server& server);

}  // namespace netpoll::examples::http
