/* core/packed_sequence.c - nnrt_packed_sequence: packing a padded batch
 * and padding it back, built on the ops pack_padded_sequence and
 * pad_packed_sequence (so it runs on any device).  Output shapes depend on
 * the lengths, which the ops' rules read; nnrt_op_infer gives them. */
#include <stdlib.h>

#include "core.h"

void nnrt_packed_sequence_free(nnrt_packed_sequence *seq) {
  if (!seq) return;
  nnrt_tensor_free(seq->data);
  nnrt_tensor_free(seq->batch_sizes);
  nnrt_tensor_free(seq->sorted_indices);
  nnrt_tensor_free(seq->unsorted_indices);
  free(seq);
}

static nnrt_status new_of(nnrt_device *dev, const nnrt_shape *s, nnrt_tensor **t) {
  return nnrt_tensor_new(dev, s->dtype, s->ndim, s->dims, t);
}

nnrt_status nnrt_packed_sequence_from_padded(nnrt_tensor *input, nnrt_tensor *lengths, bool batch_first,
                                             bool enforce_sorted, nnrt_packed_sequence **out) {
  if (!out) return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_packed_sequence_from_padded: out is NULL");
  nnrt_pack_padded_sequence_params p;
  nnrt_params_init(NNRT_OP_pack_padded_sequence, &p);
  p.batch_first = batch_first;
  p.enforce_sorted = enforce_sorted;
  nnrt_tensor *ins[] = {input, lengths};
  nnrt_shape s[4];
  nnrt_status st = nnrt_op_infer(NNRT_OP_pack_padded_sequence, &p, ins, s);
  if (st) return st;
  nnrt_packed_sequence *seq = calloc(1, sizeof *seq);
  if (!seq) return nnrt_error(NNRT_ERR_OUT_OF_MEMORY, "nnrt_packed_sequence_from_padded: out of memory");
  nnrt_device *dev = nnrt_tensor_device(input);
  st = new_of(dev, &s[0], &seq->data);
  if (!st) st = new_of(dev, &s[1], &seq->batch_sizes);
  if (!st && !enforce_sorted) st = new_of(dev, &s[2], &seq->sorted_indices);
  if (!st && !enforce_sorted) st = new_of(dev, &s[3], &seq->unsorted_indices);
  if (!st)
    st = nnrt_pack_padded_sequence(input, lengths, seq->data, seq->batch_sizes, seq->sorted_indices,
                                   seq->unsorted_indices, &p);
  if (st) {
    nnrt_packed_sequence_free(seq);
    return st;
  }
  *out = seq;
  return NNRT_OK;
}

nnrt_status nnrt_packed_sequence_to_padded(const nnrt_packed_sequence *seq, bool batch_first, double padding_value,
                                           int64_t total_length, nnrt_tensor **output, nnrt_tensor **lengths) {
  if (!seq || !output)
    return nnrt_error(NNRT_ERR_INVALID_ARGUMENT, "nnrt_packed_sequence_to_padded: %s is NULL", seq ? "output" : "seq");
  nnrt_pad_packed_sequence_params p;
  nnrt_params_init(NNRT_OP_pad_packed_sequence, &p);
  p.batch_first = batch_first;
  p.padding_value = padding_value;
  p.total_length = total_length;
  nnrt_tensor *ins[] = {seq->data, seq->batch_sizes, seq->unsorted_indices};
  nnrt_shape s[2];
  nnrt_status st = nnrt_op_infer(NNRT_OP_pad_packed_sequence, &p, ins, s);
  if (st) return st;
  nnrt_device *dev = nnrt_tensor_device(seq->data);
  nnrt_tensor *o = NULL, *l = NULL;
  st = new_of(dev, &s[0], &o);
  if (!st && lengths) st = new_of(dev, &s[1], &l);
  if (!st) st = nnrt_pad_packed_sequence(seq->data, seq->batch_sizes, seq->unsorted_indices, o, l, &p);
  if (st) {
    nnrt_tensor_free(o);
    nnrt_tensor_free(l);
    return st;
  }
  *output = o;
  if (lengths) *lengths = l;
  return NNRT_OK;
}
