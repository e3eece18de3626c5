#include "examples/http.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

namespace netpoll::examples::http {

namespace {

// Every preformatted response fits in this many bytes (checked when they are built), so
// process() needs one comparison to know the next response fits the output buffer.
constexpr std::size_t kMaxResponse = 256;

// RFC 7230 3.2.6 tchar: the characters of a method or a header name.
constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool all_tchar(std::string_view s) noexcept {
  for (char c : s)
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  return !s.empty();
}

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

// `lower` is already lower case.
bool iequals(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (ascii_lower(s[i]) != lower[i]) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Connection is a comma-separated token list ("keep-alive, Upgrade").
void connection_options(std::string_view v, bool* close, bool* keep_alive) noexcept {
  while (!v.empty()) {
    const std::size_t comma = v.find(',');
    const std::string_view tok = trim_ows(v.substr(0, comma));
    if (iequals(tok, "close")) *close = true;
    else if (iequals(tok, "keep-alive")) *keep_alive = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// 1*DIGIT; at most 18 digits so the value cannot overflow.
bool parse_length(std::string_view v, std::uint64_t* out) noexcept {
  if (v.empty() || v.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

// A field value may hold HTAB, SP, visible characters and obs-text; any other control
// character (a bare CR above all) is refused, as request smuggling relies on them.
bool valid_value(std::string_view v) noexcept {
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

void put2(char* p, unsigned v) noexcept {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void format_imf_fixdate(std::time_t t, char out[kDateLen]) noexcept {
  using namespace std::chrono;
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const sys_seconds tp{seconds{t}};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const unsigned wd = weekday{day}.c_encoding();  // 0 = Sunday
  const unsigned mon = static_cast<unsigned>(ymd.month());
  const unsigned year = static_cast<unsigned>(static_cast<int>(ymd.year()));
  const hh_mm_ss<seconds> hms{tp - day};
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::memcpy(out, kDays + 3 * wd, 3);
  std::memcpy(out + 3, ", ", 2);
  put2(out + 5, static_cast<unsigned>(ymd.day()));
  out[7] = ' ';
  std::memcpy(out + 8, kMonths + 3 * (mon - 1), 3);
  out[11] = ' ';
  put2(out + 12, year / 100);
  put2(out + 14, year);
  out[16] = ' ';
  put2(out + 17, static_cast<unsigned>(hms.hours().count()));
  out[19] = ':';
  put2(out + 20, static_cast<unsigned>(hms.minutes().count()));
  out[22] = ':';
  put2(out + 23, static_cast<unsigned>(hms.seconds().count()));
  std::memcpy(out + 25, " GMT", 4);
}

// --- Responses -------------------------------------------------------------------------------

Responses::Responses() {
  const std::string length = std::to_string(kBody.size());
  auto build = [&](Kind k, std::string_view status, std::string_view connection) {
    std::string& s = text_[k];
    s = "HTTP/1.1 ";
    s += status;
    s += "\r\nServer: netpoll\r\nDate: ";
    date_at_[k] = s.size();
    s.append(kDateLen, ' ');
    s += "\r\n";
    if (has_body(k)) {
      s += "Content-Type: text/plain\r\nContent-Length: ";
      s += length;
    } else {
      s += "Content-Length: 0";
    }
    s += "\r\n";
    if (!connection.empty()) {
      s += "Connection: ";
      s += connection;
      s += "\r\n";
    }
    s += "\r\n";
    if (has_body(k)) s += kBody;
    if (s.size() > kMaxResponse) fatal("http: a response exceeds kMaxResponse");
  };
  build(ok, "200 OK", "");
  build(ok_close, "200 OK", "close");
  build(ok_keep_alive, "200 OK", "keep-alive");
  build(bad_request, "400 Bad Request", "close");
  build(too_large, "431 Request Header Fields Too Large", "close");
  build(not_implemented, "501 Not Implemented", "close");
  build(version_unsupported, "505 HTTP Version Not Supported", "close");
  refresh();
}

void Responses::refresh() noexcept {
  // Whole seconds are all a Date holds, and std::time is the portable clock that gives just
  // those: the C libraries read it without a system call (Linux's vDSO, macOS's commpage).
  const std::time_t now = std::time(nullptr);
  if (now != second_) set_time(now);
}

void Responses::set_time(std::time_t t) noexcept {
  second_ = t;
  char date[kDateLen];
  format_imf_fixdate(t, date);
  for (std::size_t k = 0; k < kKinds; ++k)
    std::memcpy(text_[k].data() + date_at_[k], date, kDateLen);
}

// --- parsing ---------------------------------------------------------------------------------

std::size_t find_head_end(std::string_view in, std::size_t* scan) noexcept {
  const std::size_t limit = std::min(in.size(), kMaxHead);
  std::size_t i = *scan;
  while (i < limit) {
    const void* p = std::memchr(in.data() + i, '\n', limit - i);
    if (!p) break;
    const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
    // The head ends where a line break is followed by an empty line: "\n\n" or "\n\r\n".
    // Resume at this LF when the bytes that decide have not arrived yet.
    if (nl + 1 >= limit) {
      *scan = nl;
      return 0;
    }
    if (in[nl + 1] == '\n') return nl + 2;
    if (in[nl + 1] == '\r') {
      if (nl + 2 >= limit) {
        *scan = nl;
        return 0;
      }
      if (in[nl + 2] == '\n') return nl + 3;
    }
    i = nl + 1;
  }
  *scan = limit;
  return 0;
}

Parse parse_head(std::string_view head, Request& r) noexcept {
  std::size_t pos = 0;
  // The head ends with an LF (find_head_end), so every line has one.
  auto next_line = [&]() noexcept {
    const std::size_t nl = head.find('\n', pos);
    std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  // request-line = method SP request-target SP HTTP-version
  std::string_view line = next_line();
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Parse::bad_request;
  r.method = line.substr(0, sp1);
  if (!all_tchar(r.method)) return Parse::bad_request;
  line.remove_prefix(sp1 + 1);
  const std::size_t sp2 = line.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0) return Parse::bad_request;
  r.target = line.substr(0, sp2);
  for (char ch : r.target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return Parse::bad_request;
  }
  const std::string_view version = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) ||
      version[6] != '.' || !digit(version[7]))
    return Parse::bad_request;
  if (version[5] != '1') return Parse::version_unsupported;
  r.minor = version[7] - '0';

  bool close = false, keep_alive = false, chunked = false, have_length = false;
  r.content_length = 0;
  for (;;) {
    line = next_line();
    if (line.empty()) break;  // the blank line that ends the head
    // Line folding (obs-fold) is obsolete and a smuggling vector: RFC 7230 3.2.4 allows 400.
    if (line.front() == ' ' || line.front() == '\t') return Parse::bad_request;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Parse::bad_request;
    const std::string_view name = line.substr(0, colon);
    // all_tchar also refuses whitespace before the colon (RFC 7230 3.2.4: must be 400).
    if (!all_tchar(name)) return Parse::bad_request;
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!valid_value(value)) return Parse::bad_request;
    switch (name.size()) {
      case 10:
        if (iequals(name, "connection")) connection_options(value, &close, &keep_alive);
        break;
      case 14:
        if (iequals(name, "content-length")) {
          std::uint64_t n = 0;
          if (!parse_length(value, &n)) return Parse::bad_request;
          // Two different lengths leave the framing ambiguous (RFC 7230 3.3.2).
          if (have_length && n != r.content_length) return Parse::bad_request;
          have_length = true;
          r.content_length = n;
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) chunked = true;
        break;
      default:
        break;
    }
  }
  // Bodies framed by Transfer-Encoding are not decoded, so where the next request starts is
  // unknown: refuse (and close).
  if (chunked) return Parse::not_implemented;
  // HTTP/1.1 persists unless told otherwise; HTTP/1.0 only on request (RFC 7230 6.3).
  r.keep_alive = !close && (r.minor >= 1 || keep_alive);
  return Parse::ok;
}

// --- Session ---------------------------------------------------------------------------------

std::span<std::byte> Session::read_space() noexcept {
  if (in_pos_ > 0) {
    const std::size_t rest = in_len_ - in_pos_;  // < kMaxHead: a partial head (or nothing)
    if (rest > 0) std::memmove(in_.data(), in_.data() + in_pos_, rest);
    in_len_ = rest;
    in_pos_ = 0;  // scan_ counts from in_pos_, so it stays valid
  }
  return std::as_writable_bytes(std::span(in_.data() + in_len_, kInCap - in_len_));
}

void Session::respond(Responses::Kind k, bool body) noexcept {
  std::string_view t = responses_->get(k);
  if (!body && Responses::has_body(k)) t.remove_suffix(kBody.size());
  std::memcpy(out_.data() + out_len_, t.data(), t.size());
  out_len_ += t.size();
}

Session::Next Session::process() noexcept {
  responses_->refresh();
  while (!closing_) {
    if (skip_ > 0) {  // the body of the previous request
      const std::size_t k =
          static_cast<std::size_t>(std::min<std::uint64_t>(skip_, in_len_ - in_pos_));
      in_pos_ += k;
      skip_ -= k;
      if (skip_ > 0) return Next::read;
    }
    // RFC 7230 3.5: empty lines before a request line are ignored. A pending partial head
    // never starts with one (they were skipped before it), so scan_ is unaffected.
    while (in_pos_ < in_len_ && (in_[in_pos_] == '\r' || in_[in_pos_] == '\n')) ++in_pos_;
    if (in_pos_ == in_len_) return Next::read;
    if (out_len_ + kMaxResponse > kOutCap) return Next::write;

    const std::string_view avail(in_.data() + in_pos_, in_len_ - in_pos_);
    const std::size_t head = find_head_end(avail, &scan_);
    if (head == 0) {
      if (avail.size() < kMaxHead) return Next::read;
      respond(Responses::too_large, true);
      closing_ = true;
      break;
    }
    scan_ = 0;
    Request r;
    if (const Parse p = parse_head(avail.substr(0, head), r); p != Parse::ok) {
      respond(p == Parse::not_implemented       ? Responses::not_implemented
              : p == Parse::version_unsupported ? Responses::version_unsupported
                                                : Responses::bad_request,
              true);
      closing_ = true;
      break;
    }
    in_pos_ += head;
    skip_ = r.content_length;
    const Responses::Kind k = !r.keep_alive  ? Responses::ok_close
                              : r.minor == 0 ? Responses::ok_keep_alive
                                             : Responses::ok;
    respond(k, r.method != "HEAD");
    if (!r.keep_alive) closing_ = true;
  }
  return Next::close;
}

// --- the connection --------------------------------------------------------------------------

net::Task<void> serve_conn(net::Conn& c, Server& server) {
  Pool<Session>::Lease s;
  for (;;) {
    if (!s) {
      if (co_await c.Readable()) co_return;  // an error, or shutdown
      s = server.take();
    }
    Result<std::size_t> n = co_await c.Read(s->read_space());
    if (!n || *n == 0) co_return;  // the peer closed, an error, or shutdown
    s->received(*n);
    Session::Next next;
    do {
      next = s->process();
      if (!s->output().empty()) {
        Result<std::size_t> w = co_await c.Write(s->output());
        if (!w) co_return;
        s->clear_output();
      }
    } while (next == Session::Next::write);
    if (next == Session::Next::close) break;
    if (s->idle()) s.give();  // nothing pending: wait for the next bytes without it
  }
  // Lingering close (the last response is written): if the peer may still be sending, closing
  // now would reset the connection and could destroy that response in the peer's receive
  // buffer. Half-close so it sees our EOF, then discard its input until it closes, within a
  // time and byte bound.
  if (!s->unread_input()) co_return;
  if (c.CloseWrite()) co_return;
  c.SetReadDeadline(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  std::size_t budget = 1 << 20;
  while (budget > 0) {
    Result<std::size_t> n = co_await c.Read(s->drain_space());
    if (!n || *n == 0) break;
    budget -= std::min(budget, *n);
  }
}

}  // namespace netpoll::examples::http
