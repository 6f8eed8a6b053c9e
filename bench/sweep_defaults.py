import os, sys, time, torch, itertools
os.environ.setdefault('ZEROG_DATA','../shared/data')
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph
from zerog_graph.evaluate import embed_graph, classify, score
from zerog_graph.registry import GRAPHS
model_name = sys.argv[1]; pooling = sys.argv[2] if len(sys.argv)>2 else None
template = sys.argv[3] if len(sys.argv)>3 else None
graphs = sys.argv[4].split(',') if len(sys.argv)>4 else ['cora','citeseer','dblp']
m = load_model(model_name, pooling_mode=pooling, template=template, dtype=torch.bfloat16 if os.environ.get('BF16') else None)
print(model_name, m.pooling_mode, repr(m.config.template))
for name in graphs:
    for lt in [True, False]:
        g = load_graph(name, label_texts=lt)
        t=time.time(); e = embed_graph(m, g, batch_size=32, show_progress_bar=False); dt=time.time()-t
        row=[]
        for std in [True, False]:
            accs=[(R, score(classify(e, g, R, std), g)[0]) for R in [0,1,2,3,4,5,6,8,10]]
            row.append((std, accs))
        print(f"{name} label_texts={lt} embed {dt:.0f}s")
        for std, accs in row: print("  std", std, " ".join(f"R{R}:{a*100:.1f}" for R,a in accs))
