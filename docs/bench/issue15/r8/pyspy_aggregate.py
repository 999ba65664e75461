import sys, collections
incl = collections.Counter(); selfc = collections.Counter(); total = 0
threads = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(' ')
    n = int(n); total += n
    frames = stack.split(';')
    threads[frames[0]] += n
    seen = set()
    for f in frames[1:]:
        key = f.split(' (')[0] + ' ' + (f.split('(')[-1].split(':')[0].split('/')[-1] if '(' in f else '')
        if key not in seen:
            incl[key] += n; seen.add(key)
    selfc[frames[-1]] += n
print('total', total); print(threads.most_common(8))
pat = sys.argv[2] if len(sys.argv) > 2 else ''
for k, v in incl.most_common(200):
    if pat in k: print(f'{v/total:6.1%} {k}')
