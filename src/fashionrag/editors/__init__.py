"""The offline editor's components (the ``lite`` edit profile): pixel transfer of a catalog garment onto a person.

- :mod:`.regions`: the garment's own pixels in a photo (pose + person segmentation + colour), on-model or product;
- :mod:`.warp`: keypoint-driven thin-plate-spline / affine warps;
- :mod:`.transfer`: ``restyle`` (carry colour and pattern into the worn garment, keep its shading) and ``replace``
  (warp the retrieved garment onto the body, fill what the old one leaves uncovered);
- the request's colour / article type / gender words are parsed by :mod:`fashionrag.retrieval.query` (shared
  with ``search --parse-query``).
"""
