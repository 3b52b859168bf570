// step_rows: one step of an element-wise rule over the touched rows of
// row-sparse gradients (SparseAdam on an embedding table). Each touched row of
// a parameter and of its states is one TensorRef for the driver, which splits
// them among threads like any tensors: only those rows are read and written.
#include <cstdint>
#include <limits>

#include "bindings.hpp"

namespace pyoptim {
namespace bindings {
namespace {

py::array checked_c_order(py::handle obj, const std::string& what, bool writable, DType* dtype) {
  py::array a = checked_array(obj, what, writable, dtype);
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(what + ": expected a C-contiguous array (rows along the first axis)");
  return a;
}

std::string shape_of(const py::array& a) { return py::str(a.attr("shape")); }

// The touched rows of one parameter, checked: strictly increasing indices into
// its first axis, and rows shaped (len(indices), *param.shape[1:]).
struct RowSet {
  py::array param, rows;
  const std::int64_t* indices;
  std::size_t count, width;
  void* state[kMaxState];
};

RowSet checked_rows(const RuleInfo& rule, py::handle item, std::size_t t, DType* dtype, std::vector<Span>& spans) {
  const std::string index = "[" + std::to_string(t) + "]";
  if (!py::isinstance<py::tuple>(item) || py::len(item) != std::size_t(3 + rule.n_state))
    throw py::type_error("tensors" + index + ": expected a tuple (param, indices, rows, " +
                         std::to_string(rule.n_state) + " state arrays or None)");
  auto parts = py::reinterpret_borrow<py::tuple>(item);
  RowSet set{};
  set.param = checked_c_order(parts[0], "param" + index, true, dtype);
  if (set.param.ndim() < 1) throw py::value_error("param" + index + ": expected at least one dimension (rows)");
  const std::size_t n_rows = std::size_t(set.param.shape(0));
  set.width = n_rows ? std::size_t(set.param.size()) / n_rows : 0;

  if (!py::isinstance<py::array>(parts[1]))
    throw py::type_error("indices" + index + ": expected a numpy.ndarray of int64, got " + type_name(parts[1]));
  auto idx = py::reinterpret_borrow<py::array>(parts[1]);
  if (!idx.dtype().equal(py::dtype::of<std::int64_t>()) || idx.ndim() != 1 || !(idx.flags() & py::array::c_style))
    throw py::type_error("indices" + index + ": expected a contiguous 1-D int64 array, got " +
                         std::string(py::str(idx.dtype())) + " of shape " + shape_of(idx));
  set.indices = static_cast<const std::int64_t*>(idx.data());
  set.count = std::size_t(idx.shape(0));
  for (std::size_t k = 0; k < set.count; ++k) {
    const std::int64_t i = set.indices[k];
    if (i < 0 || std::size_t(i) >= n_rows)
      throw py::value_error("indices" + index + ": row " + std::to_string(i) + " is outside [0, " +
                            std::to_string(n_rows) + ")");
    if (k > 0 && i <= set.indices[k - 1])
      throw py::value_error("indices" + index + ": expected strictly increasing rows (coalesce them first)");
  }

  DType other;
  set.rows = checked_c_order(parts[2], "rows" + index, false, &other);
  bool same = other == *dtype && set.rows.ndim() == set.param.ndim() && std::size_t(set.rows.shape(0)) == set.count;
  for (py::ssize_t d = 1; same && d < set.param.ndim(); ++d) same = set.rows.shape(d) == set.param.shape(d);
  if (!same)
    throw py::value_error("rows" + index + ": expected " + std::string(py::str(set.param.dtype())) + " rows of shape (" +
                          std::to_string(set.count) + ", *param.shape[1:]), got " +
                          std::string(py::str(set.rows.dtype())) + " " + shape_of(set.rows));
  auto span = [](const py::array& a, bool written, const std::string& what) {
    const char* begin = static_cast<const char*>(a.data());
    return Span{begin, begin + a.nbytes(), written, what};
  };
  spans.push_back(span(set.param, true, "param" + index));
  spans.push_back(span(set.rows, false, "rows" + index));
  for (int k = 0; k < rule.n_state; ++k) {
    const std::string what = std::string(rule.state_names[k]) + index;
    set.state[k] = nullptr;
    if (parts[3 + k].is_none()) continue;
    py::array s = checked_c_order(parts[3 + k], what, true, &other);
    bool like = other == *dtype && s.ndim() == set.param.ndim();
    for (py::ssize_t d = 0; like && d < s.ndim(); ++d) like = s.shape(d) == set.param.shape(d);
    if (!like) throw py::value_error(what + ": expected an array of param" + index + "'s dtype and shape");
    spans.push_back(span(s, true, what));
    set.state[k] = s.mutable_data();
  }
  return set;
}

template <class T>
void add_refs(const RowSet& set, std::vector<TensorRef<T>>& refs) {
  T* param = static_cast<T*>(const_cast<void*>(set.param.data()));
  const T* rows = static_cast<const T*>(set.rows.data());
  for (std::size_t k = 0; k < set.count; ++k) {
    const std::size_t at = std::size_t(set.indices[k]) * set.width;
    TensorRef<T> ref{};
    ref.param = param + at;
    ref.grad = rows + k * set.width;
    for (int s = 0; s < kMaxState; ++s) ref.state[s] = set.state[s] ? static_cast<T*>(set.state[s]) + at : nullptr;
    ref.size = set.width;
    refs.push_back(ref);
  }
}

void step_rows(const std::string& rule_name, py::handle options, std::int64_t step, py::sequence tensors) {
  const int r = rule_index(rule_name);
  const RuleInfo& rule = kRules[r];
  if (rule.n_scalars > 0 || rule.n_reductions > 0 || rule.whole_tensor)
    throw py::value_error("rule: '" + std::string(rule.name) +
                          "' keeps per-tensor scalars or sums, so it cannot step the rows of a tensor alone");
  double opts[kMaxOptions];
  read_options(rule, options, opts);
  checked_clip(step, 1.0, std::numeric_limits<double>::infinity());
  std::vector<Span> spans;
  std::vector<RowSet> sets;
  std::vector<DType> dtypes;
  bool has_state[kMaxState];
  for (int k = 0; k < rule.n_state; ++k) has_state[k] = true;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    DType dtype;
    sets.push_back(checked_rows(rule, tensors[t], t, &dtype, spans));
    dtypes.push_back(dtype);
    for (int k = 0; k < rule.n_state; ++k) has_state[k] = has_state[k] && sets.back().state[k] != nullptr;
  }
  check_states_present(rule, opts, has_state, !sets.empty());
  check_no_overlap(std::move(spans));
  std::vector<TensorRef<float>> f32;
  std::vector<TensorRef<double>> f64;
  for (std::size_t t = 0; t < sets.size(); ++t) {
    if (dtypes[t] == DType::f32)
      add_refs(sets[t], f32);
    else
      add_refs(sets[t], f64);
  }
  run_rule(r, opts, step, f32, f64, GradientClip{}, nullptr);
}

}  // namespace

void bind_step_rows(py::module_& m) {
  m.def("step_rows", &step_rows, py::arg("rule"), py::arg("options"), py::arg("step"), py::arg("tensors"),
        "One step of an element-wise rule over given rows: tensors is a sequence of (param, indices, rows, "
        "*states), indices strictly increasing int64 rows of param's first axis, rows shaped (len(indices), "
        "*param.shape[1:]). Only those rows of param and of its states are read and written.");
}

}  // namespace bindings
}  // namespace pyoptim
