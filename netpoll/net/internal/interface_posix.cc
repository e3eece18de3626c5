// IPv6 zones on POSIX: interface names and indexes (netpoll/net/internal/sock.h). A file of its own so that the
// address fuzzer (tools/fuzz) links it without the socket layer.
#include <net/if.h>

#include "netpoll/net/internal/sock.h"

namespace netpoll::net::os {

std::uint32_t interface_index(const char* name) noexcept { return if_nametoindex(name); }

std::string interface_name(std::uint32_t index) {
  char buf[IF_NAMESIZE];
  return if_indextoname(index, buf) ? std::string(buf) : std::string();
}

}  // namespace netpoll::net::os
