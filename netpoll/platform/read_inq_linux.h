// Linux half of netpoll/platform/read_inq.h: how a stream read learns, in the same syscall, how
// many bytes it left in the socket's receive queue.
//
// With TCP_INQ on (Linux 4.18+; a listener's setting is inherited by the sockets it accepts), every
// recvmsg on a TCP socket (MPTCP too, 5.19+) carries a TCP_CM_INQ control message: the bytes still
// queued after the call, computed after the socket lock is released, so it counts whatever arrived
// while the read ran. It counts bytes behind an urgent mark, and it is not 1 byte short at the end
// of stream (the kernel reports 1 once the FIN is in). A socket whose read path is not tcp_recvmsg
// (kernel TLS, a BPF sockmap's ingress queue) sends no such message; other protocols (AF_UNIX,
// SCTP) refuse the option. ReadOp (netpoll/net/internal/fd_posix.h) relies on exactly this: no
// message, no claim.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>

namespace netpoll::net::os {

inline constexpr bool kReadInq = true;
inline constexpr int kReadInqLevel = IPPROTO_TCP;    // setsockopt level and cmsg_level
inline constexpr int kReadInqOption = TCP_INQ;
inline constexpr int kReadInqMessage = TCP_CM_INQ;  // cmsg_type; the payload is an int

}  // namespace netpoll::net::os
