// IocpPoller: the Windows Backend (Go's netpoll_windows.go), completion-based.
//
// - One I/O completion port. register_handle associates a socket with it under the token as
//   completion key. An overlapped call that returns WSA_IO_PENDING queues exactly one packet
//   when it completes, aborted or not; one that succeeds at once queues one too, unless the
//   socket was given skip_completion_on_success() (the FD layer does that for stream sockets
//   where it is safe).
// - Readiness does not exist here: the FD layer issues an overlapped operation through an
//   IocpOperation (in the operation; one in flight per direction) and parks on its PollDesc as
//   it would on EAGAIN; wait() turns the operation's completion packet into an Event for that
//   direction (kReadable for the read operation, kWritable for the write one) with
//   Event::result = bytes transferred.
//   The operation's own status is read from its OVERLAPPED (IocpOperation::result).
// - Foreign and stale packets: a packet is ours only if its OVERLAPPED carries the tag that
//   IocpOperation::begin wrote for that completion key (the Offset fields, which sockets
//   ignore); anything else another party posted to the port is dropped. A packet for a closed
//   and reused descriptor carries the old token, which the core's sequence check drops.
//   Packets are dequeued only by wait(), so an operation's OVERLAPPED must stay alive until its
//   completion was dequeued, also after CancelIoEx (docs/testing.md case 24): the FD layer waits.
// - wake() posts one packet with key Token::kReserved and no OVERLAPPED, coalesced like
//   EpollPoller's (an atomic flag; at most one packet in flight).
// - wait() takes whole milliseconds: finite timeouts are rounded up and re-waited until the
//   full time passed, so a wait never returns early.
// - A completion port cannot forget a handle: deregister_handle only counts. Packets for the
//   handle that are still queued are dropped by the token check once its PollDesc is freed.
// - Host mode (opt-in, for a Windows host loop embedding a Loop; docs/embedding.md): a port is
//   not waitable, so host_wait_handle() starts a watcher thread that becomes the port's only
//   dequeuer. It blocks in GetQueuedCompletionStatusEx, publishes the batch, sets a
//   manual-reset event (the handle returned, for WaitForSingleObject / WaitForMultipleObjects /
//   MsgWaitForMultipleObjectsEx), and waits until wait() on the polling thread has taken the
//   whole batch, which then resets the event before letting the watcher dequeue again. So
//   packets keep their order, each is reported once, and an OVERLAPPED is still in use until
//   wait() has reported it (the watcher dequeued it, but nobody has acted on it yet). Costs:
//   one thread per poller and two thread switches per batch; without host mode nothing changes
//   (no thread, one never-taken branch in wait()).
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "netpoll/contract/backend.h"
#include "netpoll/backends/common/counters.h"
#include "netpoll/backends/common/wake_flag.h"

namespace netpoll {

// One overlapped operation slot (read or write) of a socket registered with an IocpPoller.
// Not movable: the kernel holds its address while an operation is pending.
class IocpOperation {
 public:
  IocpOperation() noexcept = default;
  IocpOperation(const IocpOperation&) = delete;
  IocpOperation& operator=(const IocpOperation&) = delete;

  // Before each overlapped call: clears the OVERLAPPED (the kernel requires it) and tags it for
  // the descriptor's token and the direction (Event::kReadable or Event::kWritable) its
  // completion will be reported as. Returns the OVERLAPPED to pass to the call.
  OVERLAPPED* begin(Token token, std::uint32_t direction) noexcept {
    ov_ = OVERLAPPED{};
    ov_.Offset = tag(direction);
    ov_.OffsetHigh = static_cast<DWORD>(token.value);
    return &ov_;
  }
  OVERLAPPED* overlapped() noexcept { return &ov_; }

  // After the completion was dequeued (or the call succeeded at once): bytes transferred, or
  // the Win32/Winsock error (0 on success) through WSAGetOverlappedResult.
  struct Outcome {
    DWORD bytes;
    DWORD error;
  };
  Outcome result(SOCKET s) noexcept;

  // Which direction a dequeued OVERLAPPED was tagged for under completion key `key`; 0 if it
  // is not an IocpOperation tagged for that key (a foreign packet).
  static std::uint32_t direction_of(const OVERLAPPED* ov, ULONG_PTR key) noexcept;

 private:
  static constexpr DWORD kTagBase = 0x4e500000;  // "NP"
  static constexpr DWORD tag(std::uint32_t direction) noexcept { return kTagBase | direction; }

  OVERLAPPED ov_{};
};

class IocpPoller {
 public:
  using handle_type = SOCKET;
  using native_handle_type = HANDLE;
  using operation_type = IocpOperation;
  static constexpr std::string_view kName = "iocp";
  // Packets dequeued per GetQueuedCompletionStatusEx: the same batch as the epoll backend.
  static constexpr std::size_t kMaxBatch = 128;

  // Throws std::system_error naming the call if the port cannot be created.
  IocpPoller();
  ~IocpPoller();
  IocpPoller(const IocpPoller&) = delete;
  IocpPoller& operator=(const IocpPoller&) = delete;

  // Whether skipping packets for calls that succeed at once is safe in this process: yes
  // unless a TCP service provider without IFS handles (a layered provider) is installed, with
  // which skip-on-success may lose or duplicate packets (Microsoft KB2568167; Go makes the same
  // check). NETPOLL_IOCP_PACKET_ALWAYS=1 in the environment says no (tests run the net suite
  // both ways). Decided once per process, at the first call (Winsock must be started).
  static bool completion_skipping_safe() noexcept;
  // Sets FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE on a socket, so
  // that a call that succeeds at once queues no packet (the caller has its result). For the
  // layer that issues the calls to choose: only where completion_skipping_safe(), and only for
  // stream sockets (on datagram sockets a truncated receive can still queue a packet: Go and
  // libuv keep it off for UDP). Without it, every call's packet comes, immediate or not.
  static std::error_code skip_completion_on_success(SOCKET s) noexcept;

  std::error_code register_handle(SOCKET s, Token token) noexcept;
  std::error_code deregister_handle(SOCKET s) noexcept;
  Result<std::size_t> wait(std::span<Event> out, Timeout timeout) noexcept;
  void wake() noexcept;
  HANDLE native_handle() const noexcept { return port_; }
  // Host mode (see the top of this file): the first call starts the watcher thread, every
  // call returns the same manual-reset event, set while a batch of packets waits for wait().
  // Polling thread only. From then on wait() never dequeues itself: a zero timeout takes the
  // published batch if there is one, a longer one waits on the event. Throws std::system_error
  // naming the call if the event or the thread cannot be created (then nothing changed).
  HANDLE host_wait_handle();
  PollerStats stats() const noexcept { return counters_.snapshot(); }
  // Packets dequeued that were not ours (posted by someone else with the port handle).
  std::uint64_t foreign_packets() const noexcept { return foreign_.get(); }

 private:
  struct HostWatcher;

  ULONG dequeue(ULONG max, DWORD ms) noexcept;
  std::size_t translate(std::span<Event> out, const OVERLAPPED_ENTRY* entries, ULONG n,
                        bool* woken) noexcept;
  [[gnu::noinline]] Result<std::size_t> host_wait(std::span<Event> out, Timeout timeout) noexcept;
  std::size_t host_take(std::span<Event> out, bool* woken) noexcept;
  static DWORD WINAPI watcher_main(void* self) noexcept;

  HANDLE port_ = nullptr;
  HostWatcher* host_ = nullptr;  // host mode's state; null until host_wait_handle()
  WakeFlag wake_flag_;  // set from the wake() that posted a packet until a wait dequeued it
  std::array<OVERLAPPED_ENTRY, kMaxBatch> entries_{};
  PollerCounters counters_;
  SingleWriterCounter foreign_;  // packets dropped as not ours
};

static_assert(CompletionBackend<IocpPoller>);

// A Win32 or Winsock error code as a std::error_code (system_category).
inline std::error_code win32_code(DWORD err) noexcept {
  return {static_cast<int>(err), std::system_category()};
}

}  // namespace netpoll
