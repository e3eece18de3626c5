// A userspace kqueue(2)/kevent(2) for Linux: the test double the kqueue backend runs against on
// a machine with no kqueue kernel. Test-only (Bazel testonly); never linked into the library.
//
// It is written from the FreeBSD 12.2 kevent(2) manual (Debian's freebsd-manpages) and keeps
// FreeBSD's names and values, so backends/kqueue compiles against it unchanged (kqueue_sys.h).
// What it implements, each checked case by case in kqueue_double_test.cc:
//   filters  EVFILT_READ (sockets, listening sockets, pipes/fifos, regular files),
//            EVFILT_WRITE (sockets, pipes/fifos; EINVAL for regular files, as the manual says;
//            EPIPE for a pipe whose reader is gone, as FreeBSD's kernel does),
//            EVFILT_USER (NOTE_TRIGGER, NOTE_FFNOP/FFAND/FFOR/FFCOPY);
//   flags    EV_ADD (re-adding modifies), EV_DELETE, EV_ENABLE, EV_DISABLE, EV_DISPATCH,
//            EV_ONESHOT, EV_CLEAR, EV_RECEIPT, EV_EOF, EV_ERROR;
//   kevent   changelist applied before the eventlist is filled, per-change errors as EV_ERROR
//            entries (or -1/errno when there is no room), nevents == 0 returns at once, NULL
//            timeout blocks, zero timespec polls, EINVAL for a bad timespec, timeouts above
//            24 hours shortened to 24 hours (the manual's BUGS section), EINTR on a signal.
// Where Linux cannot show what a BSD kernel does, the double says so instead of guessing:
//   - close(2) of a watched descriptor is invisible to userspace: the double notices it lazily
//     (the descriptor no longer names the file it registered: fstat identity) and drops the
//     kevents then, before they can be reported.
//   - close(2) of the kqueue itself must go through close_kqueue() (kqueue_sys.h does this for
//     the backend), so the double can free its state.
//   - The socket error that EV_EOF carries in fflags cannot be read on Linux without consuming
//     it (SO_ERROR clears it), and the application must still see it. The double reports
//     kUnreadSocketError (EIO) in fflags when the socket has an error pending.
//   - Not inherited across fork(2): not emulated (the kqueue is an epoll descriptor).
//   - Not implemented (EINVAL as an unknown filter): EVFILT_AIO, EVFILT_VNODE, EVFILT_PROC,
//     EVFILT_PROCDESC, EVFILT_SIGNAL, EVFILT_TIMER, EVFILT_EMPTY; NOTE_LOWAT and
//     NOTE_FILE_POLL are ignored.
#pragma once

#include <stdint.h>
#include <time.h>

struct kevent {
  uintptr_t ident;
  short filter;
  unsigned short flags;
  unsigned int fflags;
  int64_t data;
  void* udata;
  uint64_t ext[4];
};

// Filters (FreeBSD's values).
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_USER (-11)

// Actions and flags.
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

// EVFILT_USER fflags.
#define NOTE_FFNOP 0x00000000u
#define NOTE_FFAND 0x40000000u
#define NOTE_FFOR 0x80000000u
#define NOTE_FFCOPY 0xc0000000u
#define NOTE_FFCTRLMASK 0xc0000000u
#define NOTE_FFLAGSMASK 0x00ffffffu
#define NOTE_TRIGGER 0x01000000u

#define EV_SET(kevp, a, b, c, d, e, f)   \
  do {                                   \
    struct kevent* ev_set_p_ = (kevp);   \
    ev_set_p_->ident = (a);              \
    ev_set_p_->filter = (b);             \
    ev_set_p_->flags = (c);              \
    ev_set_p_->fflags = (d);             \
    ev_set_p_->data = (e);               \
    ev_set_p_->udata = (f);              \
    ev_set_p_->ext[0] = 0;               \
    ev_set_p_->ext[1] = 0;               \
    ev_set_p_->ext[2] = 0;               \
    ev_set_p_->ext[3] = 0;               \
  } while (0)

int kqueue(void) noexcept;
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout) noexcept;

namespace netpoll::kqueue_double {

// fflags reported with EV_EOF when a socket has an error pending (see above).
inline constexpr unsigned kUnreadSocketError = 5;  // EIO

// close(2) for a descriptor returned by kqueue(): frees the double's state, then closes it.
int close_kqueue(int kq) noexcept;

// Test knob: while false, EVFILT_USER is an unknown filter (EINVAL), as on a kernel that lacks
// it, so the backend's pipe fallback can be exercised. Affects kqueues of this process.
void set_user_filter_supported(bool supported) noexcept;

}  // namespace netpoll::kqueue_double
