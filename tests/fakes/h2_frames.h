// Hand-written HTTP/2 frames, for tests that must behave as no real client would (rapid
// reset, CONTINUATION floods, resets mid-response). Deliberately independent of nghttp2 and
// of Meridian: header blocks use only HPACK's static table and plain literals.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/tcp_client.h"

namespace meridian::fakes::h2frames {

constexpr uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kGoaway = 0x7, kWindowUpdate = 0x8, kContinuation = 0x9;
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;
constexpr uint32_t kNoError = 0x0, kCancel = 0x8, kEnhanceYourCalm = 0xb;

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

// The client preface and an empty SETTINGS frame.
std::string preface();
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload);
// A request header block: GET (or `method`) `path` on authority "h2.test", scheme http,
// plus `extra` literal fields.
std::string requestBlock(std::string_view path, std::string_view method = "GET",
                         const std::vector<std::pair<std::string, std::string>>& extra = {});
// Literal fields only: a trailer block.
std::string fieldBlock(const std::vector<std::pair<std::string, std::string>>& fields);
std::string rstStream(uint32_t stream, uint32_t code);
std::string windowUpdate(uint32_t stream, uint32_t increment);
std::string goaway(uint32_t last_stream, uint32_t code);

// Removes and returns the whole frames at the front of `bytes`.
std::vector<Frame> parse(std::string& bytes);

// Reads frames from `c` until one satisfies `done`, the peer closes, or the deadline. All
// frames read are appended to `seen`. True only when `done` matched.
bool readUntilFrame(TcpClient& c, std::vector<Frame>& seen,
                    const std::function<bool(const Frame&)>& done,
                    std::chrono::milliseconds timeout);

}  // namespace meridian::fakes::h2frames
