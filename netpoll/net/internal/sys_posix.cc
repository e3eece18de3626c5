#include "netpoll/net/internal/sys_posix.h"

#include <fcntl.h>
#include <unistd.h>

#include "netpoll/platform/socket.h"

namespace netpoll::net {
namespace {
int setfl(int fd, int flags) { return ::fcntl(fd, F_SETFL, flags); }
int setfd(int fd, int flags) { return ::fcntl(fd, F_SETFD, flags); }
}  // namespace

const SysHooks kRealSys = {
    &::socket,  &accept4_or_enosys, &::accept,     &::connect,  &::bind,       &::listen,
    &::read,    &::recvmsg,    &::send,       &::sendmsg,    &::recvfrom, &::sendto,     &::close,
    &::shutdown, &::setsockopt, &::getsockopt, &::getsockname, &::getpeername, &setfl,
    &setfd,
};

SysHooks sys = kRealSys;

}  // namespace netpoll::net
