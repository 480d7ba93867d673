"Train the TREC sentence classifier (seqlab.rnn_sentence) with DDP: `torchrun --nproc_per_node=2 examples/ddp_train.py`."
import torch
import torch.distributed as dist
from seqlab.core import quick_mode, set_seed
from seqlab.datasets import load_trec
from seqlab.distributed import DDPCB, init_distributed
from seqlab.learner import EarlyStoppingCB, Learner
from seqlab.metrics import accuracy
from seqlab.rnn_sentence import RNNSentenceConfig, build_rnn_sentence, prepare_sentences, sentence_loaders

def main():
    rank, world = init_distributed()
    quick = quick_mode()
    if quick and not torch.cuda.is_available():
        torch.set_num_threads(1)
    prep = prepare_sentences(load_trec(quick, verbose=rank == 0))
    set_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    cfg = RNNSentenceConfig(vocab_size=len(prep.vocab), n_classes=len(prep.classes), padding_idx=prep.vocab.pad_idx,
                            hidden_size=32 if quick else 128)
    model = build_rnn_sentence(cfg, prep.vocab)
    bs = 32  # per process: the effective batch is world * bs
    learn = Learner(model, sentence_loaders(prep, bs), lr=1e-3 * world, metrics=[accuracy],
                    cbs=[DDPCB(), EarlyStoppingCB('accuracy', patience=3, verbose=False)])
    learn.fit(2 if quick else 30)
    if rank == 0:
        print(f'{world} processes, effective batch {world * bs}')
        print(learn.history.round(4).to_string())
    dist.destroy_process_group()

if __name__ == '__main__':
    main()
