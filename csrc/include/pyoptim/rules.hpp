// Every update rule, and the one list that registers them. Adding a rule:
// write rules/<name>.hpp, include it here and add it to PYOPTIM_FOR_EACH_RULE.
#pragma once

#include "multi_tensor.hpp"
#include "rules/adam.hpp"
#include "rules/sgd.hpp"

#define PYOPTIM_FOR_EACH_RULE(X) \
  X(SGD)                         \
  X(Adam)
