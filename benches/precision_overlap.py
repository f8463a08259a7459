"""Issue 20's second quality condition on the whole shared corpus: the ten nearest papers of 500
query papers (every 108th) among all 54,002, by a store's vectors (embedded by paperscout in a
reduced precision, e.g. by `paperscout eval` without --vectors) against sentence-transformers'
own FP32 vectors (the peer's file, stored as f16), exact search on both sides.

    .venv-bench/bin/python benches/precision_overlap.py DATA_DIR/paperscout.sqlite3

`tests/embed_parity.rs` checks the same condition on 1,000 papers against paperscout's FP32.
"""
import gzip, json, sqlite3, sys
import numpy as np
E='../shared/data/arxiv-cs'
STORE=sys.argv[1]
ids=[]
with gzip.open(f'{E}/papers.jsonl.gz','rt') as f:
    for line in f:
        ids.append(json.loads(line)['id'])
ref=np.fromfile(f'{E}/embeddings/all-MiniLM-L6-v2.f16',dtype='<f2').astype(np.float32).reshape(len(ids),-1)
c=sqlite3.connect(f'file:{STORE}?mode=ro',uri=True)
vec={pid:np.frombuffer(v,dtype='<f4') for pid,v in c.execute('select paper_id, vector from embeddings')}
def key(i):
    for k in (f'arXiv:{i}', i):
        if k in vec: return k
keys=[key(i) for i in ids]
keep=[j for j,k in enumerate(keys) if k is not None]
print('matched', len(keep), 'of', len(ids))
ours=np.stack([vec[keys[j]] for j in keep]); ref=ref[keep]
ref/=np.linalg.norm(ref,axis=1,keepdims=True)
queries=list(range(0,len(keep),len(keep)//500))[:500]
tot=[]
for q in queries:
    a=ref@ref[q]; b=ours@ours[q]; a[q]=b[q]=-9
    ta=set(np.argpartition(-a,10)[:10]); tb=set(np.argpartition(-b,10)[:10])
    tot.append(len(ta&tb)/10)
print('queries', len(tot), 'mean overlap %.4f' % np.mean(tot), 'lowest', min(tot))
