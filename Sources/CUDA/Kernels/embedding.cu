// Row lookup and its gradient.

// out[i, j] = table[ids[i], j]. ids [n], table [V, C], out [n, C]; one thread per element.
extern "C" __global__ void embedding_forward(float* out, const int* ids, const float* table, int n, int c) {
  const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long)n * c) return;
  const long i = e / c, j = e % c;
  out[e] = table[(long)ids[i] * c + j];
}

// dtable[id, j] += Σ dout[i, j] over the positions i holding id, in increasing i: the order of the
// CPU engine, without atomics. The positions are grouped by id on the host: group g is id
// group_ids[g] with the positions positions[starts[g] ..< starts[g + 1]].
// dout [n, C], dtable [V, C]; grid (⌈C/256⌉, groups), 256 threads.
extern "C" __global__ void embedding_backward(float* dtable, const float* dout, const int* group_ids, const int* starts,
                                              const int* positions, int c) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, g = blockIdx.y;
  if (j >= c) return;
  float* row = dtable + (long)group_ids[g] * c;
  float acc = row[j];
  for (int p = starts[g]; p < starts[g + 1]; p++) acc += dout[(long)positions[p] * c + j];
  row[j] = acc;
}
