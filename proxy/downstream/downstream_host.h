#pragma once
// DownstreamHost: what a client connection needs of its worker beyond what its exchanges do:
// a scratch head to parse requests into, and a word when it closes. The Worker implements it.
#include "proxy/exchange/exchange_host.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy {

class DownstreamConn;

class DownstreamHost : public ExchangeHost {
 public:
  // Where connections parse request heads (one at a time per thread).
  virtual http1::RequestHead& scratchHead() = 0;
  virtual void onConnectionClosed(DownstreamConn* conn) = 0;
};

}  // namespace meridian::proxy
