// Blocking client sockets for the example servers' tests: connect, send everything, receive
// some, to a count or to the end of stream. Every call is bounded (kTimeout send and receive
// timeouts) only so that a broken server fails a test instead of hanging it; no test asserts a
// duration. They return values instead of throwing, so client threads can use them freely.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "test/child_process.h"

namespace netpoll::examples::testing {

using netpoll::testing::Fd;

// The bound on every wait of the examples' test helpers (sockets and processes).
inline constexpr std::chrono::seconds kTimeout{30};

// A blocking TCP socket connected to `addr` ("1.2.3.4:80" or "[::1]:80"), TCP_NODELAY on,
// with kTimeout send and receive timeouts. An invalid Fd on failure (see errno).
Fd dial(const std::string& addr);
// send() until all of `data` is written; false on error or timeout.
bool send_all(int fd, std::string_view data);
// One recv() of at most `max` bytes appended to `out`: the count, 0 at EOF, -1 on an error or
// timeout.
long recv_once(int fd, std::string& out, std::size_t max = 65536);
// Appends up to `n` bytes from `fd` to `out`; stops early at EOF, an error or a timeout.
// Returns the number of bytes appended.
std::size_t recv_some(int fd, std::size_t n, std::string& out);
// Reads until EOF; `*eof` tells whether EOF (rather than an error or timeout) ended it.
std::string recv_to_eof(int fd, bool* eof);

}  // namespace netpoll::examples::testing
