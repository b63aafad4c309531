// vss/mocks/mocks.hpp — everything in openvss::mocks, for tests that want one include.
//
// Example 1 — a gMock writer in a real backup:
//
//   #include <vss/mocks/mocks.hpp>
//   auto w = std::make_shared<vss::mocks::mock_writer>("db");
//   EXPECT_CALL(*w, on_freeze).WillOnce(vss::mocks::Complete());
//
// Example 2 — a whole backup with a fault plan, in virtual time:
//
//   vss::mocks::backup_scenario s({.plan = vss::mocks::fault_plan::from_text("writer[0].thaw=hang")});
//   EXPECT_THAT(s.run().violations, ::testing::IsEmpty());
//
// Thread-safety: see each header.

#pragma once

#include "vss/mocks/backup_scenario.hpp"
#include "vss/mocks/checked_handler.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fake_writer.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/mocks/fault_plan.hpp"
#include "vss/mocks/faulty_provider.hpp"
#include "vss/mocks/invariants.hpp"
#include "vss/mocks/matchers.hpp"
#include "vss/mocks/mock_provider.hpp"
#include "vss/mocks/mock_writer.hpp"
#include "vss/mocks/stepper.hpp"
