#include "netpoll/backends/iocp/iocp_poller.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "netpoll/backends/common/wait_deadline.h"

namespace netpoll {
namespace {

// GetQueuedCompletionStatusEx takes a DWORD of milliseconds, INFINITE (0xFFFFFFFF) meaning
// forever: finite timeouts are capped one below it (~49.7 days) and waited out in pieces.
constexpr std::int64_t kMaxWaitMs = 0xFFFFFFFE;

// Windows never maps the lowest 64 KiB of an address space: a small integer posted as an
// "OVERLAPPED" by someone else is rejected without being dereferenced.
constexpr std::uintptr_t kLowestMappable = 0x10000;

[[noreturn]] void fatal_win32(const char* call, DWORD err) noexcept {
  char msg[160];
  std::snprintf(msg, sizeof msg, "%s failed: Win32 error %lu", call, static_cast<unsigned long>(err));
  fatal(msg);
}

}  // namespace

IocpOperation::Outcome IocpOperation::result(SOCKET s) noexcept {
  DWORD bytes = 0, flags = 0;
  if (WSAGetOverlappedResult(s, &ov_, &bytes, FALSE, &flags)) return {bytes, 0};
  return {bytes, static_cast<DWORD>(WSAGetLastError())};
}

std::uint32_t IocpOperation::direction_of(const OVERLAPPED* ov, ULONG_PTR key) noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(ov);
  if (addr < kLowestMappable || addr % alignof(OVERLAPPED) != 0) return 0;
  const DWORD t = ov->Offset;
  if ((t & 0xFFFF0000u) != kTagBase) return 0;
  const std::uint32_t dir = t & 0xFFFFu;
  if (dir != Event::kReadable && dir != Event::kWritable) return 0;
  if (ov->OffsetHigh != static_cast<DWORD>(key)) return 0;
  return dir;
}

namespace {
// Go's checkSetFileCompletionNotificationModes: skipping is safe only if every TCP provider
// hands out real (IFS) handles.
bool all_tcp_providers_ifs() noexcept {
  INT protocols[] = {IPPROTO_TCP, 0};
  std::array<WSAPROTOCOL_INFOW, 32> info;
  DWORD len = sizeof info;
  const int n = WSAEnumProtocolsW(protocols, info.data(), &len);
  if (n == SOCKET_ERROR) return false;  // unknown (more than 32, or no Winsock): be safe
  for (int i = 0; i < n; ++i)
    if (!(info[static_cast<std::size_t>(i)].dwServiceFlags1 & XP1_IFS_HANDLES)) return false;
  return true;
}
}  // namespace

bool IocpPoller::completion_skipping_safe() noexcept {
  static const bool safe = [] {
    const char* force = std::getenv("NETPOLL_IOCP_PACKET_ALWAYS");
    if (force && *force && std::string_view(force) != "0") return false;
    return all_tcp_providers_ifs();
  }();
  return safe;
}

std::error_code IocpPoller::skip_completion_on_success(SOCKET s) noexcept {
  if (!SetFileCompletionNotificationModes(reinterpret_cast<HANDLE>(s),
                                          FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                                              FILE_SKIP_SET_EVENT_ON_HANDLE))
    return win32_code(GetLastError());
  return {};
}

IocpPoller::IocpPoller() {
  // Concurrency 1: one thread waits on the port at a time (the Backend contract).
  port_ = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
  if (!port_)
    throw std::system_error(static_cast<int>(GetLastError()), std::system_category(),
                            "CreateIoCompletionPort");
}

// Host mode's shared state. The watcher writes entries/count while `published` is false and
// `consumed` has not been set since; the polling thread reads them after seeing `published`
// (acquire) and hands them back by resetting `ready`, clearing `published`, then setting
// `consumed` (in that order: a batch published right after must find its `ready` set).
struct IocpPoller::HostWatcher {
  HANDLE ready = nullptr;     // manual-reset: set while a batch is published (the host's handle)
  HANDLE consumed = nullptr;  // auto-reset: the polling thread took the whole batch
  HANDLE thread = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<bool> published{false};
  ULONG count = 0;  // packets in the published batch
  ULONG taken = 0;  // of them already reported (polling thread only)
  std::array<OVERLAPPED_ENTRY, kMaxBatch> entries{};

  ~HostWatcher() {
    if (thread) CloseHandle(thread);
    if (consumed) CloseHandle(consumed);
    if (ready) CloseHandle(ready);
  }
};

namespace {
// The completion key of the packet that unblocks the watcher for shutdown; the watcher looks
// only at its stop flag, so the packet's content does not matter.
constexpr ULONG_PTR kStopKey = Token::kReserved;
}  // namespace

IocpPoller::~IocpPoller() {
  if (host_) {
    host_->stop.store(true, std::memory_order_release);
    // Whichever the watcher is blocked in, this ends it; both are set after `stop`, so it sees
    // the flag when it returns.
    if (!PostQueuedCompletionStatus(port_, 0, kStopKey, nullptr))
      fatal_win32("PostQueuedCompletionStatus", GetLastError());
    SetEvent(host_->consumed);
    WaitForSingleObject(host_->thread, INFINITE);
    delete host_;
  }
  CloseHandle(port_);
}

HANDLE IocpPoller::host_wait_handle() {
  if (host_) return host_->ready;
  auto* h = new HostWatcher;
  const auto fail = [h](const char* call) {
    const DWORD err = GetLastError();
    delete h;
    throw std::system_error(static_cast<int>(err), std::system_category(), call);
  };
  h->ready = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (!h->ready) fail("CreateEventW");
  h->consumed = CreateEventW(nullptr, FALSE, FALSE, nullptr);
  if (!h->consumed) fail("CreateEventW");
  host_ = h;  // before the thread starts: watcher_main reads it
  h->thread = CreateThread(nullptr, 64 * 1024, &watcher_main, this,
                           STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (!h->thread) {
    host_ = nullptr;
    fail("CreateThread");
  }
  return h->ready;
}

DWORD WINAPI IocpPoller::watcher_main(void* self) noexcept {
  auto* p = static_cast<IocpPoller*>(self);
  HostWatcher* h = p->host_;
  for (;;) {
    ULONG n = 0;
    const BOOL ok = GetQueuedCompletionStatusEx(p->port_, h->entries.data(),
                                                static_cast<ULONG>(kMaxBatch), &n, INFINITE, FALSE);
    if (h->stop.load(std::memory_order_acquire)) return 0;
    if (!ok) {
      const DWORD err = GetLastError();
      if (err == WAIT_TIMEOUT) continue;
      fatal_win32("GetQueuedCompletionStatusEx", err);
    }
    if (n == 0) continue;
    h->count = n;
    h->published.store(true, std::memory_order_release);
    SetEvent(h->ready);
    WaitForSingleObject(h->consumed, INFINITE);
    if (h->stop.load(std::memory_order_acquire)) return 0;
  }
}

std::error_code IocpPoller::register_handle(SOCKET s, Token token) noexcept {
  if (token.value == Token::kReserved || s == INVALID_SOCKET) return Errc::invalid_argument;
  const auto h = reinterpret_cast<HANDLE>(s);
  if (h == port_) return Errc::invalid_argument;
  if (!CreateIoCompletionPort(h, port_, static_cast<ULONG_PTR>(token.value), 0)) {
    const DWORD err = GetLastError();
    // A handle can be associated with one port, once; a second association is refused.
    if (err == ERROR_INVALID_PARAMETER) return Errc::already_registered;
    return win32_code(err);  // ERROR_INVALID_HANDLE: not an open handle
  }
  PollerCounters::bump(counters_.registrations);
  return {};
}

std::error_code IocpPoller::deregister_handle(SOCKET s) noexcept {
  if (s == INVALID_SOCKET) return Errc::invalid_argument;
  // Nothing to undo: the association ends when the socket is closed, and packets still queued
  // for it carry a token the core no longer accepts.
  PollerCounters::bump(counters_.deregistrations);
  return {};
}

ULONG IocpPoller::dequeue(ULONG max, DWORD ms) noexcept {
  counters_.waits.add();
  ULONG n = 0;
  if (GetQueuedCompletionStatusEx(port_, entries_.data(), max, &n, ms, FALSE)) return n;
  const DWORD err = GetLastError();
  if (err == WAIT_TIMEOUT) return 0;
  fatal_win32("GetQueuedCompletionStatusEx", err);  // the port itself is broken
}

std::size_t IocpPoller::translate(std::span<Event> out, const OVERLAPPED_ENTRY* entries, ULONG n,
                                  bool* woken) noexcept {
  std::size_t k = 0;
  for (ULONG i = 0; i < n; ++i) {
    const OVERLAPPED_ENTRY& e = entries[i];
    if (e.lpCompletionKey == Token::kReserved && e.lpOverlapped == nullptr) {
      counters_.wakeups.add();
      wake_flag_.consume();
      *woken = true;
      continue;
    }
    const std::uint32_t dir = IocpOperation::direction_of(e.lpOverlapped, e.lpCompletionKey);
    if (dir == 0) {
      foreign_.add();
      continue;
    }
    out[k].token = Token{e.lpCompletionKey};
    out[k].flags = dir;
    out[k].result = e.dwNumberOfBytesTransferred;
    ++k;
  }
  return k;
}

Result<std::size_t> IocpPoller::wait(std::span<Event> out, Timeout timeout) noexcept {
  if (out.empty()) return Errc::invalid_argument;
  if (host_) [[unlikely]] return host_wait(out, timeout);
  const auto max = static_cast<ULONG>(std::min(out.size(), kMaxBatch));
  bool woken = false;
  if (timeout.is_zero()) return translate(out, entries_.data(), dequeue(max, 0), &woken);
  // The millisecond timeout is rounded up, and GetQueuedCompletionStatusEx may still return a
  // little early (timer tick granularity): a wait that found nothing of ours re-waits until
  // the deadline has passed.
  const WaitDeadline deadline(timeout);
  for (;;) {
    const DWORD ms = timeout.is_infinite()
                         ? INFINITE
                         : static_cast<DWORD>(timeout.milliseconds_ceil(kMaxWaitMs));
    const std::size_t k = translate(out, entries_.data(), dequeue(max, ms), &woken);
    if (k != 0 || woken) return k;
    if (timeout.is_infinite()) continue;  // only foreign packets: keep waiting
    if (!deadline.more(&timeout)) return k;
  }
}

std::size_t IocpPoller::host_take(std::span<Event> out, bool* woken) noexcept {
  HostWatcher* h = host_;
  if (!h->published.load(std::memory_order_acquire)) return 0;
  // `out` may be smaller than the batch: the rest stays published for the next wait().
  const auto n = static_cast<ULONG>(std::min<std::size_t>(h->count - h->taken, out.size()));
  const std::size_t k = translate(out, h->entries.data() + h->taken, n, woken);
  h->taken += n;
  if (h->taken == h->count) {
    h->taken = 0;
    ResetEvent(h->ready);
    h->published.store(false, std::memory_order_release);
    SetEvent(h->consumed);
  }
  return k;
}

Result<std::size_t> IocpPoller::host_wait(std::span<Event> out, Timeout timeout) noexcept {
  counters_.waits.add();
  bool woken = false;
  std::size_t k = host_take(out, &woken);
  if (k != 0 || woken || timeout.is_zero()) return k;
  // As wait(): whole milliseconds rounded up, re-waited until the deadline has passed.
  const WaitDeadline deadline(timeout);
  for (;;) {
    const DWORD ms = timeout.is_infinite()
                         ? INFINITE
                         : static_cast<DWORD>(timeout.milliseconds_ceil(kMaxWaitMs));
    const DWORD r = WaitForSingleObject(host_->ready, ms);
    if (r == WAIT_FAILED) fatal_win32("WaitForSingleObject", GetLastError());
    if (r == WAIT_OBJECT_0) {
      k = host_take(out, &woken);
      if (k != 0 || woken) return k;
    }
    if (timeout.is_infinite()) continue;  // only foreign packets: keep waiting
    if (!deadline.more(&timeout)) return k;
  }
}

void IocpPoller::wake() noexcept {
  // A pending wake already guarantees the wait returns (see WakeFlag).
  if (!wake_flag_.claim()) return;
  if (!PostQueuedCompletionStatus(port_, 0, static_cast<ULONG_PTR>(Token::kReserved), nullptr))
    fatal_win32("PostQueuedCompletionStatus", GetLastError());
  PollerCounters::bump(counters_.wake_signals);
}

}  // namespace netpoll
