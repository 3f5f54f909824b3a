// The one L2 normalisation: embedders hand out unit vectors and the local store keeps unit rows,
// so that cosine similarity is a plain dot product.

/**
 * Scales `v` to unit length in place; the zero vector stays zero (no division by zero, no NaN),
 * and so does a vector with non-finite components. Returns the squared length it had.
 */
export function normaliseL2(v: Float32Array): number {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  if (norm > 0 && Number.isFinite(norm)) {
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return norm;
}
