/*
 * memory.c -- a memory for agents over a text store: remember, recall,
 * forget and list, with namespaces, de-duplication, supersession,
 * conversations and recency (cvstore.h, "Memory").
 *
 * A memory is an ordinary record.  What the memory layer needs beyond text,
 * vector and links lives in reserved members of the record's JSON metadata
 * (docs/FORMAT.md, "Memories"), so that no new database is needed and
 * filters, export and check keep working on memories unchanged:
 *   _ns             the namespace; every operation filters on it
 *   _hash           hex BLAKE2b-256 of (u32 length of ns, ns, text): exact
 *                   duplicates are found with one filter evaluation
 *   _recalled       last recall, microseconds since the epoch
 *   _conv, _seq     conversation id and position (1, 2, ...)
 *   _superseded_by  id of the memory that replaced this one
 * Creation time is the record's own (an upsert keeps it).
 *
 * Recall is hybrid retrieval fused by reciprocal rank (Cormack, Clarke &
 * Buettcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
 * Rank Learning Methods", SIGIR 2009): score(d) = sum over the rankings r
 * that contain d of 1 / (60 + rank_r(d)), rank from 1.  RRF needs no score
 * calibration between BM25 and cosine similarity, which have unrelated
 * scales.  The fused score is then multiplied by CVS_MEM_SUPERSEDED_WEIGHT
 * for a superseded memory (whose replacement then ranks above it, rule 19)
 * and, when a half-life is set, by an exponential recency decay, as in the retrieval function of Park et al., "Generative
 * Agents" (UIST 2023), which also counts age from the last access.
 *
 * Where we deviate or choose:
 *   1. BM25 has no filter, so the lexical ranking is asked for more
 *      results than needed and cut to the namespace, asking again for more
 *      while too few fall inside it.  The vector ranking is filtered by the
 *      namespace inside the search (a pre-filter, store/filter.c).
 *   2. Near-duplicates are found by the embeddings: the best few vector
 *      neighbours in the namespace are re-scored by exact cosine (so l2 and
 *      ip stores work too) against the threshold.  Embeddings alone cannot
 *      tell a rewording from a changed fact (SIF over GloVe puts "the
 *      meeting is on Monday" and "the meeting moved to Friday" at 0.97), so
 *      the words decide what a near-duplicate is: when the new text still
 *      carries every word of the old one, as often (BM25's tokens: names,
 *      numbers and content words; stop words aside; "meeting 2 on March 2"
 *      / "meeting 3 on March 2" keeps a 2 and changes the fact), and their
 *      word sets overlap by at
 *      least CVS_MEM_SAME_WORDS (Jaccard), it is the same memory reworded
 *      and is updated in place; otherwise it is a revision, stored as a new
 *      memory that supersedes the old one.  The first condition is what
 *      makes a merge safe: it replaces the old text, so a name or number
 *      that differs ("Bob's flight" / "Carol's flight", "production" /
 *      "staging") must never merge, however high the overlap.
 *      A revision must keep the theme (theme_of): English puts what a
 *      sentence is about first and what it says of it last (the given-new
 *      order of information structure, Halliday's theme and rheme), so a
 *      changed fact keeps its opening ("the meeting is on Monday" / "the
 *      meeting moved to Friday") and another fact changes it ("my
 *      daughter's school starts at 8" / "my son's school starts at 9",
 *      cosine >= 0.95 in SIF over GloVe).  The theme is the first content
 *      word with the words that own it (ending in 's or s'), articles,
 *      pronouns and a correction's opening ("actually") skipped.  Before,
 *      the son's memory superseded the daughter's, and recall ranked hers
 *      below three unrelated memories: a fact told and lost.  Near vectors
 *      with another theme are now a memory of their own.  What this cannot
 *      tell: two values of one theme that both hold ("the user likes jazz"
 *      / "the user likes hiking", if their vectors were that near) are
 *      still one revising the other; and a changed fact that opens
 *      differently ("I live in Berlin" / "I moved to Munich") is kept as
 *      two live memories, newest first on a tie, which loses nothing.
 *   3. Recency and supersession multiply the fused score instead of adding
 *      to it (Park et al. add normalized terms): RRF scores of different
 *      queries are not comparable, so only a factor keeps a fixed meaning.
 *   4. Recall is a context set (query/context.c) scoped to the namespace:
 *      its seeds are the two rankings above (the walk follows the
 *      memories' links, never leaving the namespace), supersession and
 *      recency reweigh the candidates after the walk, and the caller's
 *      selection strategy (diverse by default) chooses under k and the
 *      token budget.  Its near-duplicate suppression is off: a superseded
 *      revision is near its replacement by construction, and nothing is
 *      hidden but by forget.  A memory of no word the embedder knows is
 *      kept with a stand-in vector (meta "_noembed") and is never a vector
 *      seed (the scope's vector_deny): the vector says nothing of its text.
 *   5. Storing the last-recalled time rewrites the record (cvs_put), which
 *      also re-indexes its text: simple, and cheap at the size of what one
 *      recall returns.  It is best effort: when the write fails (a full
 *      disk, a read-only handle) recall answers all the same, and the
 *      memories keep their earlier time; when another process is writing
 *      (an import, a build's encoding pass: minutes) the time is left out
 *      rather than waited for, since a recall is a read and must not stall
 *      behind a writer (an agent's recall waited out a whole build).
 *   6. Checks run in a read snapshot and the writes in a later transaction,
 *      so that the write lock is not held while the namespace is searched.
 *      The write is made only onto that snapshot (cvs__put_since): when
 *      another writer committed in between (two agents' `cvstore mcp` on
 *      one store remembering the same text, which let both add it: 115
 *      memories for 60 texts from three servers), the checks run again on
 *      a new snapshot, as graph/link.c redoes its mentions.  After
 *      MEM_PLAN_TRIES plans the last is written unchecked, so that a store
 *      another process writes without pause (recall's times) still takes
 *      the memory.
 *   7. Many texts in one call (cvs_mem_remember_many: a conversation log,
 *      a notes file, a migration from another memory tool) give exactly
 *      what as many cvs_mem_remember calls in their order give, in one
 *      embedding call (MEM_EMBED_CHUNK texts at most; a transformer
 *      embeds many texts at a fraction of the CPU time per text of one,
 *      query/embed_minilm.c deviation 7, and the vectors are the same bit
 *      for bit: with minilm a remembered text costs about half the CPU
 *      time, docs/BENCHMARKS.md), one snapshot and one write transaction,
 *      so that the batch is stored whole or not at all.  A later text may be an exact
 *      or near duplicate, a revision, or the next of a conversation, of an
 *      earlier text of the same call, so each text's checks read a view
 *      (mem_view): the snapshot with the memories the call's earlier texts
 *      added or changed laid over it.  A record the call wrote answers
 *      from the view (its text, metadata and vector as the store would
 *      give them back: unit length in a cosine store, rounded in an f16
 *      one), the store's filter and exact search for the rest: the
 *      search asks for MEM_NEAR_PROBE more than the view holds of the
 *      store's records, keeps the first MEM_NEAR_PROBE it holds not, and
 *      scores the view's own in by the store's metric.  The cost of a
 *      text's checks grows with the batch as one call's grows with the
 *      store (the exact probe scores every memory of the namespace).  A memory the call adds gets a key above any the
 *      store gives (MEM_NEW_KEY and up, in order), so "newest" means what
 *      it means with one call a text, and the one put writes them in that
 *      order, so that the store's keys follow it.  What is left unequal:
 *      two memories at exactly the same distance from a text may come out
 *      of the near-duplicate probe in another order (the exact search's
 *      sums against the view's), which changes nothing but which of two
 *      equally near memories is taken; and the ids, drawn at random in
 *      either way.  A single cvs_mem_remember is this call with one text.
 *   8. A call takes at most CVS_MEM_REMEMBER_MAX texts (1000; more is
 *      CVS_EINVAL, refused before anything is embedded), the limit MCP's
 *      remember has too.  Deviation 7's view makes a text's checks grow
 *      with the texts before it (the exact probe asks for as many more
 *      neighbours as the view holds and scores every one of them), so
 *      planning a batch costs the square of its size; with no limit one
 *      call could hold the write lock's snapshot and a core for hours.
 *      Sub-quadratic planning would need an index of the view's vectors
 *      that answers exactly what the store's exact search answers, ties
 *      and metric included, so that a batch stays what as many single
 *      calls give; that is a second search engine for a call whose uses
 *      (a conversation log, a notes file, a migration) split into calls of
 *      1000 at no loss but the batch's atomicity, which the caller's split
 *      decides.
 *
 * Recall's ranking rules.  Rules 7 and 8 were chosen by looking only at
 * the misses of half A of `cvstore-bench memory` (the questions on odd
 * lines, `--half A`), with half B (even lines) reported; B's misses were
 * looked at after that, so rules 9 and 10 were chosen on A and B's misses
 * together and are reported on set C, 50 facts and questions written
 * before them and run only to report (bench/data/README.md).  hit@1 /
 * hit@3 of the default recall, with the 55 facts, then after 500
 * unrelated memories:
 *   before both rules   A 0.857 / 0.929, 0.821 / 0.821
 *                       B 0.704 / 0.889, 0.667 / 0.852
 *   7. The lexical query carries each word's other inflection of number
 *      (lexical_query): "taxes" for "tax", "lives" for "live", "city" for
 *      "cities".  BM25's postings are unstemmed (text/tokenize.c,
 *      deviation 3) and a paraphrase changes number freely; adding the
 *      forms to the query instead of stemming the index leaves the stored
 *      postings, and everything else that searches them, as they are.
 *      Words under 3 letters and numbers are left alone.  A's misses it
 *      fixed: "the tax return" / "files the taxes", "the user's mom live
 *      in" / "mother lives in", and "How does the user take their
 *      coffee?" / "never takes sugar".
 *                       A 0.964 / 1.000, 0.893 / 0.893
 *                       B 0.741 / 0.852, 0.704 / 0.852
 *      (on B one question fell out of the top 3 at 55 memories.)  The cost
 *      is the occasional wrong match: "return" now also finds "returns".
 *   8. A memory that names what the question names comes first
 *      (question_names, recall_weigh): the question's words that carry a
 *      capital letter other than a sentence's first ("Priya", "CI",
 *      "iOS") or a digit are identifiers, and a memory without them is
 *      about something else, however many other words it shares.  Each
 *      such word the memory contains multiplies its fused score by
 *      2 (k + depth) / (k + 1), the ratio of the highest fused score a
 *      seed can have to the lowest, times 2, the most rule 10's factor
 *      can add, so the order is by names first and by fused score among
 *      equals.  A's miss it fixed: "How long can a CI
 *      job run before it gets killed?" lost to "The user dislikes
 *      meetings before 10 am." (the one memory with "CI" was first in
 *      BM25 but far down the vector ranking, and RRF favours memories
 *      middling in both).
 *                       A 1.000 / 1.000, 0.929 / 0.929
 *                       B 0.741 / 0.852, 0.704 / 0.852 (unchanged)
 *      Whole set: 0.873 / 0.927, 0.818 / 0.891 (from 0.764 / 0.873,
 *      0.727 / 0.836), and B says the rules carry over only in part.
 *                       C 0.820 / 0.900, 0.740 / 0.840 (rules 7 and 8)
 *   9. A question word that no memory has, in either number, gets a
 *      stand-in in the lexical query (stand_in): of its nearest words in
 *      the embedder's own GloVe vectors, the first that some memory has
 *      and that is a synonym (cosine >= 0.75: "writer" / "author" 0.86,
 *      "plane" / "flight" 0.82) or a word of the same stem (all but the
 *      last 3 letters of the shorter, at least 4, shared; cosine >= 0.5:
 *      "designs" / "designer" 0.69, which GloVe keeps apart because the
 *      two take different grammatical places).  Only for a missing word:
 *      GloVe's nearest words are as often co-hyponyms as synonyms
 *      ("Monday" / "Tuesday" 0.99, "mother" / "father" 0.87), so a word
 *      that some memory has is its own evidence and is never widened, and
 *      the memory with the word itself always outranks one with a
 *      stand-in.  Not for names and numbers (rule 8's identifiers have no
 *      synonyms), and not for GloVe's 1,000 most frequent words, whose
 *      nearest words are other function words ("when" / "before" 0.90,
 *      "can" / "should" 0.87; past rank 1,000 the embedder's own SIF
 *      weight is within 7% of 1, embed_sif.c deviation 1).  Stand-ins
 *      come from GloVe's 30,000 most frequent words: rarer ones have
 *      noisy vectors, and each missing word costs a scan of those 30,000
 *      (12 MB; the hybrid recall's p50 on the benchmark went from 0.25 to
 *      0.8 ms with rule 10).  "Has" is BM25's: in any namespace.  The
 *      synonym bar is not tuned: 0.7, 0.75 and 0.8 give the same figures
 *      on A and B (rule 9 alone, synonyms only).  Fixed on B:
 *      "Which writer does the user like best?" / "favourite author".
 *                       A 1.000 / 1.000, 0.929 / 0.929 (unchanged)
 *                       B 0.778 / 0.889, 0.741 / 0.889
 *  10. A memory's fused score is multiplied by 1 + the share of the
 *      question's word weight it holds (coverage, recall_weigh): each
 *      question word (with its forms of rules 7 and 9) weighs its BM25
 *      idf in the store, words no memory has weigh nothing, and the share
 *      is what the memory's words hold of the total.  RRF keeps only
 *      ranks, so it cannot tell the memory that holds the question's
 *      rarest word from the near-identical ones that share its most
 *      common one, which sit high in both rankings ("Who prepares the tax
 *      return?" lost to "The tundra service now returns a request id"
 *      after the 500 unrelated memories), nor two memories whose ranks
 *      cross (first in one ranking, second in the other: a tie, which went
 *      to the newer).  The factor is at most 2, which is what a second
 *      ranking's vote is worth against none (RRF of a memory first in one
 *      ranking and absent from the other is half that of one first in
 *      both), so the words weigh in without overruling the rankings.
 *      Fixed: that question (A), "Who designs the mobile app?" (B, with
 *      rule 9's "designer"), "Which tool do we use for feature toggles?"
 *      (B, 55 memories); lost: "Does the user have any food allergies?"
 *      (A, 55 memories: the cat "eats wet food" holds the rarer word).
 *                       A 0.964 / 1.000, 0.964 / 0.964
 *                       B 0.852 / 0.926, 0.778 / 0.889
 *      Whole set: 0.909 / 0.964, 0.873 / 0.927.
 *                       C 0.820 / 0.900, 0.800 / 0.880 (rules 7 to 10;
 *                       C run twice in all, before rules 9 and 10 and
 *                       after): on the held-out set the rules help only
 *                       after the 500 unrelated memories, and the goal of
 *                       0.90 / 0.85 is not met there.
 *   Tried and left out: dropping the interrogatives (how, what, when,
 *   where, why, whose, whom) from the lexical query, on the reasoning that
 *   they ask for the answer and do not name it: no change on A or B.
 *   Score-normalized fusion (CVS_FUSION_WEIGHTED) instead of RRF: 0.855 /
 *   0.800 on the whole set, worse.  The misses left on A and B are
 *   paraphrases no word rule reaches ("address of the office" for "Our
 *   office is at 221 Harbour Road", "eat out" for "favourite restaurant",
 *   "race" for "marathon", GloVe cosine 0.64), which only a better
 *   embedding closes.
 *   Set C then became a development set (set D, 60 facts written before C's
 *   misses were read, took its place as the held-out one), and on C's half
 *   A (odd lines) one more rule was tried and left out: soft coverage (the
 *   soft cosine measure, Sidorov et al. 2014, term similarity max(0, cos)^2
 *   as in Charlet & Damnati 2017): in rule 10's share a question word no
 *   memory has weighs its idf and counts, for each memory, its best cosine
 *   squared to one of the memory's words ("client" / "customer" 0.62,
 *   "music" / "band" 0.72).  hit@1 / hit@3, 50 then 550 memories on C's
 *   half A, 55 then 555 on the main set's:
 *     rules 7 to 10           C 0.800 / 0.880, 0.760 / 0.840
 *                             main 0.964 / 1.000, 0.964 / 0.964
 *     with soft coverage      C 0.840 / 0.880, 0.760 / 0.800
 *                             main 0.929 / 1.000, 0.857 / 0.964
 *     only cosines >= 0.5     C 0.800 / 0.880, 0.760 / 0.800
 *                             main unchanged
 *   It fixed "Which client brings in the most money?" and cost "What diet
 *   does the user follow?", "Who prepares the tax return?" and "How long is
 *   an access token valid?": the many weak cosines of unrelated words
 *   (0.3-0.5) add up to more than one strong one.
 *  11. With the built-in glove, rule 10's share counts near words too
 *      (recall_pool, recall_weigh): a soft coverage in the manner of
 *      BERTScore's recall (Zhang et al., ICLR 2020: each word of one text
 *      matched greedily to its most similar word of the other, weighted by
 *      idf) and of the relaxed word mover's distance (Kusner et al., ICML
 *      2015), over GloVe instead of a contextual model.  A question word's
 *      match in a memory is 1 when the memory has one of its forms (rules
 *      7 and 9), else its best cosine to one of the memory's words.  Three
 *      choices make the weak cosines that sank the soft coverage above
 *      stop adding up, each for a reason of its own:
 *      (a) Word vectors lose the embedder's common component first (the
 *          one SIF removes from every sentence, embed_sif.c deviation 4):
 *          that direction is what frequent words share, and it makes them
 *          hubs ("there", "any", "can" have a best cosine of 0.8-0.9 to
 *          some word of nearly every memory).  Removing the top component
 *          of word vectors is Mu & Viswanath's "All-but-the-Top" (ICLR
 *          2018), which improves word similarity for the same reason.
 *      (b) A match counts by what it is above the median match of the same
 *          word among the candidates, scaled so that a form of the word
 *          still counts 1: (m - b) / (1 - b).  BERTScore rescales by a
 *          baseline from random text for the same reason; the candidates
 *          are the random text at hand, and the median is what a memory
 *          that has nothing to do with the word gets.  A word most
 *          candidates hold (b = 1, "user") counts for none.
 *      (c) Each word weighs its idf in the store times the embedder's own
 *          weight of it, a / (a + p(w)) (SIF's, from GloVe's frequency
 *          rank): the store's idf of a word no memory has is the largest
 *          there is whether the word is "herb" or "what", and a store of 50
 *          memories is too small to tell; the language can.  A word no
 *          memory has weighs BM25's idf of an unseen term (rule 10 gave it
 *          nothing, having nothing to match it with).
 *      Names and numbers match only as they are (rule 8: no synonyms).
 *      Without a GloVe embedder, rule 10 stays as it was.  The candidates
 *      are the context's pool (the two rankings' seeds and the links they
 *      lead to), so the cost grows with k, not with the store: p50 of the
 *      hybrid recall 1.27-1.68 ms on the benchmark's main set and set C at
 *      50-555 memories against 0.73-1.08 ms without the rule (one run each,
 *      one BLAS thread, loaded machine).
 *      Chosen on half A of the main set and of set C, reported on half B;
 *      hit@1 / hit@3 at 55 (50) memories, then 555 (550):
 *        rules 7 to 10      main A 0.964 / 1.000, 0.964 / 0.964
 *                           C A    0.800 / 0.880, 0.760 / 0.840
 *                           main B 0.852 / 0.926, 0.778 / 0.889
 *                           C B    0.840 / 0.920, 0.840 / 0.920
 *        with rule 11       main A 1.000 / 1.000, 0.964 / 0.964
 *                           C A    0.800 / 0.920, 0.800 / 0.880
 *                           main B 0.852 / 0.926, 0.852 / 0.926
 *                           C B    0.840 / 0.960, 0.840 / 0.920
 *      No question lost on either half; on B two more first after the 500
 *      unrelated memories.  Then run once on the held-out sets, nothing
 *      changed after (docs/BENCHMARKS.md):
 *        D, rules 7 to 10   0.850 / 0.967, 0.867 / 0.950
 *        D, with rule 11    0.950 / 0.983, 0.933 / 0.967
 *        F, rules 7 to 10   0.656 / 0.781, 0.656 / 0.734
 *        F, with rule 11    0.656 / 0.781, 0.625 / 0.766
 *      Set F, written for this rule's test, paraphrases more than the
 *      others (BM25 alone finds 50% of its memories first, against 73-75%
 *      on the others), and the rule does not move it.
 *      Each choice is needed, on half A:
 *        without (a)        main 0.964 / 1.000, 0.929 / 0.964
 *                           C    0.680 / 0.880, 0.760 / 0.840
 *        without (b)        main 1.000 / 1.000, 0.929 / 0.929
 *                           C    0.840 / 0.920, 0.760 / 0.840
 *        without (c), (a) kept: main 0.964 / 1.000, 0.964 / 0.964,
 *                           C 0.800 / 0.920, 0.760 / 0.880
 *      Tried and left out on A: (c) replaced by rule 9's cut (no soft
 *      match for GloVe's 1,000 most frequent words), with or without (a):
 *      it also cuts "music" (rank 389), "food", "office", "home"; main
 *      0.964 / 1.000, 0.929 / 0.964, C 0.840 / 0.880, 0.800 / 0.840 without
 *      (a), C 0.800 / 0.920, 0.760 / 0.880 with it.  Dropping (b)'s
 *      rescaling (m - b unscaled; measured with rule 9's cut and without
 *      (a)): no change.  (b) costs one question on C's half A at 50
 *      memories and gains one on each set at 5xx.  What it does not reach:
 *      "GP" for "doctor" (capitalised, so a name, rule 8), "music" for
 *      "band" when another memory "likes" what the question asks about
 *      (the exact "like" outweighs music / band at 0.62), "ebooks" for
 *      "e-readers", "where does the user work from" for "works remotely".
 *  12. With an embedder whose vector ranking is strong enough to lead (a
 *      flag of the embedder, cvs__embedder_trained: the built-in "use",
 *      the Universal Sentence Encoder lite, query/embed_use.c: a sentence
 *      encoder trained in part on question-answer pairs, Cer et al. 2018),
 *      the hybrid recall does not fuse ranks: a candidate's relevance is
 *      its cosine to the question (recall_relevance), and lexical
 *      evidence only moves memories the encoder already puts close
 *      together, names aside (c).  Rules 7 and 9 to 11 were built to
 *      rescue GloVe's weak vector ranking; with "use" (rules 9 and 11 off,
 *      they read GloVe's word vectors) RRF with BM25 and rule 10 pulled
 *      memories sharing a common word ("the user likes ...") above the
 *      encoder's answer, and the hybrid recall was at best equal to the
 *      vector ranking alone on every set but E (held-out F: 0.625 against
 *      0.844).
 *      Relevance = names + (1 + cos + s * share) / (2 + s) (rule 14 now
 *      maps the same evidence differently, the order unchanged), where
 *      (a) cos is the exact cosine of the memory's stored vector to the
 *          question's, for every candidate (BM25's seeds too, so a memory
 *          only BM25 found still competes by its meaning);
 *      (b) share is rule 10's (the question's idf weight the memory's
 *          words hold, with rule 7's forms), and s, what it can add at
 *          most, is the spread (standard deviation) of the candidates'
 *          cosines on this question: a memory holding all of the
 *          question's words gains one standard deviation of the encoder's
 *          own scale, enough to pass a near tie, not a memory the encoder
 *          clearly prefers.  The scale is the question's own, not a
 *          constant chosen on a set (cosines of one encoder differ by
 *          question length and topic);
 *      (c) names counts rule 8's names and numbers of the question the
 *          memory holds (rule 18: those the encoder reads in pieces), so
 *          they still come first, by (a) and (b) among
 *          equals (the fraction is in [0, 1]).
 *      Supersession and recency multiply it as before (deviation 3).
 *      Glove's recall is unchanged.  Chosen among on half A of the main
 *      set, set C and set G (written for it, bench/data/README.md), then
 *      checked on their halves B; hit@1 / hit@3, at 55, 50, 56 memories,
 *      then after the 500 unrelated ones:
 *        GloVe's fusion       main A 0.929 / 1.000, 0.857 / 0.929
 *        (RRF, rules 7, 8,    C A    0.720 / 0.920, 0.680 / 0.880
 *        10)                  G A    0.750 / 0.893, 0.750 / 0.821
 *        cosine and names     main A 0.857 / 1.000, 0.821 / 0.929
 *        only (s = 0)         C A    0.920 / 1.000, 0.880 / 1.000
 *                             G A    0.750 / 0.857, 0.714 / 0.786
 *        rule 12 (s = the     main A 0.964 / 1.000, 0.929 / 0.964
 *        spread)              C A    0.920 / 1.000, 0.920 / 1.000
 *                             G A    0.821 / 0.857, 0.750 / 0.786
 *        s = twice the        main A 0.929 / 1.000, 0.929 / 0.964
 *        spread               C A    0.920 / 1.000, 0.920 / 1.000
 *                             G A    0.821 / 0.893, 0.714 / 0.857
 *        rule 12 without (c)  main A 0.964 / 1.000, 0.893 / 0.964
 *                             C A    0.880 / 0.960, 0.880 / 0.960
 *                             G A    0.821 / 0.857, 0.750 / 0.786
 *        a band instead: the  main A 1.000 / 1.000, 0.929 / 0.964
 *        fusion's order among C A    0.880 / 1.000, 0.840 / 1.000
 *        cosines within s of G A    0.857 / 0.857, 0.750 / 0.821
 *        the best, cosine's after
 *      Mean hit@1 over A's six figures: 0.781 GloVe's fusion, 0.824
 *      cosine and names, 0.884 rule 12, 0.872 twice the spread, 0.865
 *      without (c), 0.876 the band.  Then halves B (only the fusion and
 *      rule 12 run):
 *        GloVe's fusion       main B 0.815 / 0.889, 0.815 / 0.889
 *                             C B    0.920 / 1.000, 0.920 / 1.000
 *                             G B    0.607 / 0.750, 0.571 / 0.643
 *        rule 12              main B 0.889 / 0.963, 0.889 / 0.926
 *                             C B    0.920 / 1.000, 0.840 / 0.920
 *                             G B    0.750 / 0.893, 0.679 / 0.750
 *      (mean hit@1 0.775 against 0.828; C's half B loses two questions
 *      after the 500 unrelated memories).  Each half is 25-28 questions,
 *      one question 0.04.  Sets D, E, F and H were then run once, and
 *      nothing was changed after (docs/BENCHMARKS.md, "The `use`
 *      embedder"); `use` with GloVe's fusion, `use` with rule 12, and
 *      glove's recall (unchanged):
 *        D (held out)   fusion  0.850 / 0.950, 0.850 / 0.933
 *                       rule 12 0.950 / 1.000, 0.933 / 0.967
 *                       glove   0.950 / 0.983, 0.933 / 0.967
 *        E              fusion  0.975 / 1.000, 0.975 / 1.000
 *                       rule 12 1.000 / 1.000, 1.000 / 1.000
 *                       glove   1.000 / 1.000, 0.975 / 1.000
 *        F (held out)   fusion  0.625 / 0.797, 0.578 / 0.703
 *                       rule 12 0.859 / 0.938, 0.781 / 0.828
 *                       glove   0.656 / 0.781, 0.625 / 0.766
 *        H (held out,   rule 12 0.800 / 0.927, 0.800 / 0.873
 *        its one run)   glove   0.600 / 0.855, 0.600 / 0.800
 *      What A's misses under the rule are: paraphrases the encoder too
 *      ranks second or lower ("Where should meeting minutes
 *      go?" for "keep meeting notes in the shared Notion space", "What
 *      diet does the user follow?"), and a rare exact word the encoder
 *      ranks seventh ("dashboards"), which a share worth one spread does
 *      not lift that far.
 *   Rules 13 and 14 were chosen on halves A of the main set, C, G and J
 *   (set J, 56 profile-card records, written with the held-out set I
 *   before either rule was looked for, bench/data/README.md), with `use`,
 *   and checked on halves B; hit@1 / hit@3 at 50-56 memories, then after
 *   500 unrelated ones:
 *        rule 12              main A 0.964 / 1.000, 0.929 / 0.964
 *                             C A    0.920 / 1.000, 0.920 / 1.000
 *                             G A    0.821 / 0.857, 0.750 / 0.786
 *                             J A    0.857 / 0.929, 0.750 / 0.750
 *  13. A lone digit of the question is not a name under rule 12 (names_in):
 *      "3" of "Can I get an espresso at 3 pm?" tells the hour the user
 *      asks about, and the memory that answers ("only before noon") does
 *      not repeat it; as a name it put every memory holding a 3 ("grade
 *      3", "Bought 3 coffee filters") first, above the encoder's answer at
 *      cosine 0.66 against 0.27-0.43.  A digit alone counts or tells an
 *      hour; identifiers with digits have more to them ("v1", "443",
 *      "Year 13" keeps its "13").  Glove's rule 8 is unchanged.
 *        with rule 13         J A    0.893 / 0.964, 0.786 / 0.786
 *                             (main, C, G A unchanged)
 *  14. Relevance is exp((e - best) / s), e = cos + s * share (rule 12's
 *      evidence), best the largest e among the candidates: 1 for the
 *      best, 1/e one spread below (recall_relevance).  The order is rule
 *      12's (the same e, names still first), but its (1 + e) / (2 + s)
 *      put every candidate within a few percent of the best, and the
 *      diverse selection, which divides relevance by the best and weighs
 *      coverage against it, then took a memory that covers other ground
 *      over the encoder's second.  The encoder's own scale, its spread on
 *      this question, is what a gap in cosine means (the softmax over
 *      scores at temperature s).  hit@1 is unchanged by construction (the
 *      answer lists the chosen memories by relevance); what moves is
 *      which memories are chosen.  Rules 13 and 14 together:
 *                             main A 0.964 / 1.000, 0.929 / 0.964 (MRR
 *                                    at 555 0.940 -> 0.945)
 *                             C A    0.920 / 1.000, 0.920 / 1.000
 *                             G A    0.821 / 0.857, 0.750 / 0.821
 *                             J A    0.893 / 0.964, 0.786 / 0.786
 *      Mean hit@1 over A's eight figures 0.864 (rule 12) -> 0.873.  Then
 *      halves B, rule 12 against rules 12 to 14:
 *        rule 12              main B 0.889 / 0.963, 0.889 / 0.926
 *                             C B    0.920 / 1.000, 0.840 / 0.920
 *                             G B    0.750 / 0.893, 0.679 / 0.750
 *                             J B    0.821 / 0.929, 0.786 / 0.821
 *        rules 12 to 14       main B 0.889 / 0.963, 0.889 / 0.926
 *                             C B    0.920 / 1.000, 0.840 / 0.920
 *                             G B    0.750 / 0.929, 0.714 / 0.786
 *                             J B    0.821 / 0.929, 0.786 / 0.857
 *      (mean hit@1 0.822 -> 0.826; no question lost on either half; C's
 *      MRR at 550 0.898 -> 0.896).  Then sets D, E, F, H and the held-out
 *      set I were run once (docs/BENCHMARKS.md); I, its one run:
 *      0.873 / 0.945, 0.800 / 0.891 (glove 0.855 / 0.982, 0.782 / 0.927).
 *   Where the drop after 500 unrelated memories comes from: replaying rule
 *   12's relevance alone (no selection) on the candidates of half A gives
 *   the benchmark's hit@1 on all eight figures, so it is not the
 *   selection (which cost one hit@3 on G A at 556, back with rule 14) but
 *   unrelated memories the encoder puts nearer than the answer ("The
 *   Denver office closes early on Mondays." 0.387 for "Who is my boss at
 *   work?", "Line manager: ..." 0.331; "meeting notes" at 0.152 for
 *   "meeting minutes").
 *   Tried on A and left out (mean hit@1 over A's eight figures, against
 *   0.864 for rule 12 and 0.873 for rule 13; replayed on the candidates'
 *   cosines, shares and vectors printed by a scratch build, except the
 *   last, a scratch build run through the benchmark):
 *     names within the spread, not first (s x the share of the question's
 *       names, beside rule 10's): 0.872; loses "What does the user do on
 *       Wednesday nights?" on C (the answer holds "Wednesday", the
 *       encoder prefers "works remotely on Mondays and Fridays").
 *     names in either number (rule 7's forms, "Saturdays" = "Saturday"):
 *       0.863; "closes early on Wednesdays" then names what C's question
 *       names.
 *     a word only one candidate holds counts as a name: 0.811.
 *     the answer's type (a "when" question wants a memory with a date,
 *       day or hour, "who" a name, "how much" a number; one more spread
 *       for a memory that has one): 0.864 with rule 13; costs main A one
 *       question at both sizes.
 *     hubness reduction (CSLS, Conneau et al., ICLR 2018: 2 cos - the
 *       mean cosine of the memory to its K nearest memories): K 10 over
 *       the store 0.864, K 5 0.868, K 10 over the candidates 0.855; it
 *       wins after the 500 unrelated memories and loses as much at 50.
 *     cosines with the store's mean vector removed: 0.861.
 *     the share's cap as best - median cosine 0.850, twice the spread
 *       0.855.
 *     the question without its interrogative frame (wh-words and
 *       auxiliaries), its cosine averaged with the question's: main A
 *       0.929 / 1.000, 0.929 / 0.964; C A 0.920 / 0.960, 0.920 / 1.000;
 *       G A 0.786 / 0.857, 0.750 / 0.786; J A 0.893 / 1.000, 0.786 /
 *       0.786 (0.864), for a second embedding per recall.
 *   Rule 15 was chosen on halves A of the main set, C, G and J with `use`,
 *   looking at A's misses, and checked on halves B; set K (52 facts of a
 *   coding assistant's memory, bench/data/README.md) was written and
 *   committed alone, and run on the code before it before any rule was
 *   looked for.  K has been run six times in all, its misses never
 *   printed: twice on rules 12 to 14 (the same figures; the second to
 *   keep its table), once with rule 15, once with rules 15 and 16, once
 *   in the final table of both, and once in the final table of rule 15
 *   alone (docs/BENCHMARKS.md).
 *   A's misses under rules 12 to 14, 28
 *   of the 218 questions of A's eight figures: paraphrases the encoder
 *   ranks below another fact with no word or name to tell them apart (12:
 *   "What diet does the user follow?", "Where should meeting minutes
 *   go?", "Who is my boss at work?"); after the 500 unrelated memories,
 *   their templates put nearer than the answer ("The Denver office closes
 *   early on Mondays.", "Zoe prefers a quick phone call to long chat
 *   threads.", "The meridian service now returns a request id in every
 *   response.") or nearly, the answer's share of the words no longer
 *   enough to pass them (9, rule 15); a day's name taken for a name (3,
 *   the "rule 16" below, measured and not taken); a memory that shares
 *   the question's word in another sense (2: the "anniversary" of a death
 *   for the couple's); a near tie of two memories holding the same name
 *   (2: "API").  None is a revision's.
 *  15. Rule 12's spread s, the scale of the share and rule 14's
 *      temperature, is the standard deviation of the question's cosines
 *      to the memories recall may return (the namespace and filter, less
 *      stand-in vectors; MEM_SCALE_SAMPLE of them, evenly spaced in key
 *      order: scope_spread), not to the candidates.  The
 *      candidates are the top of the vector ranking (and BM25's), a
 *      truncated sample whose cosines lie closer together the more
 *      memories compete: their spread fell by 29-33% on each set after the
 *      500 unrelated memories (main 0.103 -> 0.071, C 0.096 -> 0.069, G
 *      0.100 -> 0.066, J 0.091 -> 0.061, mean over the questions), the
 *      scope's by 5-9% (0.112 -> 0.097 ... 0.100 -> 0.091), so the same
 *      words weighed a third less in a larger store, and the answer that
 *      holds all of the question's words ("Which afternoons am I on
 *      pickup duty?", share 1) fell below a template the encoder puts
 *      0.07 nearer.  The scope's spread is what a difference of cosine
 *      means for this question, whatever the store's size.
 *      Cost: one stored vector read (decrypted, in an encrypted store) and
 *      one cosine per memory of the sample, every recall.  A sample of up
 *      to 512 (278 read at 555 memories) cost 12% of a recall's CPU time
 *      on a 555-memory `use` store (5.85 against 5.23 ms) and 44% on an
 *      encrypted one (9.72 against 6.74 ms); 128 cost 5% and 12%, 64 1%
 *      and 6% (a scratch harness, 550 recalls per setting interleaved in
 *      one process, load average 7-10 on 2 cores; a glove store does not
 *      run the rule).  So MEM_SCALE_SAMPLE is 128 (111 read at 555
 *      memories): on halves A it gives every figure of the sample of up
 *      to 512 (below); on halves B the same but one question of G B after
 *      the 500 unrelated memories, found first with 64 or 128 (0.714) and
 *      second with 512 (0.679), a near tie either way.  Not 64, though
 *      cheaper and as good on the halves: an evenly spaced sample aliases
 *      with a store whose memories repeat a pattern.  test_use's store of
 *      106 (six facts, then two templates in turn) read at a stride of 2
 *      only one template, whose cosines spread too little, and the answer
 *      fell below it.  128 reads every memory of a store that small; a
 *      larger store that alternates kinds at the stride still aliases (a
 *      sample by a hash of the key would not; not done yet).
 *      hit@1 / hit@3 at 50-56 memories, then after 500 unrelated ones:
 *        rules 12 to 14       main A 0.964 / 1.000, 0.929 / 0.964
 *                             C A    0.920 / 1.000, 0.920 / 1.000
 *                             G A    0.821 / 0.857, 0.750 / 0.821
 *                             J A    0.893 / 0.964, 0.786 / 0.786
 *        rule 15              main A, C A unchanged
 *                             G A    0.821 / 0.857, 0.750 / 0.857
 *                             J A    0.893 / 0.964, 0.821 / 0.821
 *      Mean hit@1 over A's eight figures 0.873 -> 0.877.  Halves B:
 *        rules 12 to 14       main B 0.889 / 0.963, 0.889 / 0.926
 *                             C B    0.920 / 1.000, 0.840 / 0.920
 *                             G B    0.750 / 0.929, 0.714 / 0.786
 *                             J B    0.821 / 0.929, 0.786 / 0.857
 *        rule 15              main B 0.889 / 0.963, 0.926 / 0.926
 *                             C B    0.920 / 1.000, 0.840 / 0.960
 *                             G B    0.750 / 0.929, 0.714 / 0.821
 *                             J B    0.821 / 0.929, 0.786 / 0.893
 *      (mean hit@1 0.826 -> 0.831; with up to 512, G B 0.679 / 0.821 at
 *      556 and the mean 0.826; hit@3 higher on three figures.)  Then
 *      the held-out sets D, F, H, I and K were run with it, its sample
 *      then up to 512 (`use`; rules 12 to 14 from docs/BENCHMARKS.md, K
 *      from its runs before the rule; the final figures, with 128, are
 *      in docs/BENCHMARKS.md), hit@1 at 52-64 memories / after 500:
 *                  rules 12-14    rule 15
 *        D         0.950 / 0.933  0.967 / 0.933
 *        F         0.859 / 0.781  0.859 / 0.766
 *        H         0.800 / 0.800  0.800 / 0.782
 *        I         0.873 / 0.800  0.873 / 0.818
 *        K         0.635 / 0.558  0.635 / 0.577
 *        mean      0.799          0.801
 *      Set K, the one no rule had seen, is far from the goal
 *      (0.635): a coding assistant's memories are full of identifiers and
 *      tools ("kestrel-02", "pnpm", "LaunchDarkly") the encoder knows
 *      little of; the rules here do not reach that.
 *   Measured and not taken, "rule 16": a day's or a month's name is no
 *     name under rule 12 (a list of the nineteen, either number), though
 *     capitalised, for the reason of rule 13 (it tells when the user asks
 *     about, which the answer need not repeat: "Is wine okay on a Tuesday
 *     evening?" for "no alcohol on school nights").  Alone on rules 12 to
 *     14 it lowered half A, 0.873 -> 0.872 (C A 0.880 / 0.960 at both
 *     sizes, a question lost at each; J A 0.929 / 0.964, 0.821 / 0.857); with
 *     rule 15 it gave A 0.881 against rule 15's 0.877 and left halves B
 *     where they were (0.826 with or without it): the halves did not
 *     choose it.  It was first kept on the held-out sets' figures (their
 *     mean 0.812 with it against 0.801), which are for reporting only, and
 *     it has a defect: a first name that is also a month's ("June",
 *     "April", "May") stopped being a name, so that "What does June run?"
 *     put "The car's MOT is due every April." above "... June runs the
 *     Tuesday book club ..." (test_use.c, a_first_name_that_is_a_month_is_
 *     a_name).  Removed.
 *   Tried on A and left out (mean hit@1 over A's eight figures against
 *   0.873 for rules 12 to 14; scratch builds, or replayed on the
 *   candidates' cosines a scratch build printed):
 *     memories embedded without their frame ("Remember that", "Note:",
 *       "Told me", "Asked me to", "Said", "oh and": the words that say
 *       something is told, not what), at remember: 0.869 (G A at 56 loses
 *       one; its hit@3 gains two); the better of the two cosines, framed
 *       and not: 0.877 (rule 15's gain, for a second embedding of every
 *       framed memory).
 *     the question in a declarative form (its leading wh-words and
 *       auxiliaries dropped, "What is my dentist's phone number?" -> "my
 *       dentist's phone number"), a second embedding: the better cosine
 *       0.839, their mean 0.874, the declarative form alone 0.816.
 *   Identifiers and tool names (set K's shortfall) were looked at on
 *   halves A of the main set, C, G, J and set L (56 facts of a coding
 *   assistant's memory of a developer's machines,
 *   repositories, tools, deploy rules and colleagues, written from set K's
 *   description without reading K: bench/data/README.md), with `use`, and
 *   checked on halves B.  L's half A misses under rules 12 to 16, 7 at 56
 *   memories and 8 at 556: a word the question shares with the answer
 *   that the encoder holds only in pieces, the answer first in BM25 and
 *   third to ninth in the vector ranking, the share of the words too
 *   small against the encoder's cosine (3: "monorepo", "playbooks",
 *   "hotfixes" for "fix"); a distractor holding the same identifier's
 *   parts ("web client" in "web-client-prod", "prod" in both the Sentry
 *   and the production servers' memory: 1); a tool or jargon the encoder
 *   does not place and no word joins ("container images" for "Docker
 *   images", "port" for "localhost:8080": 2); a paraphrase ("phone app"
 *   for "mobile app": 1); after the 500 unrelated memories, an
 *   abbreviation inside an identifier ("authentication" for "auth-svc":
 *   the "nimbus service" template came first).  The tokenizer already
 *   splits kebab, snake and dotted identifiers (text/tokenize.c: "auth-svc"
 *   gives "auth" and "svc", "stage-01" "stage" and "01"), so none of A's
 *   misses is an identifier split differently on the two sides.
 *   Tried and left out, as the rule it would have been (17): a question
 *      word that the encoder's vocabulary holds only in pieces counts
 *      twice in rule 10's share, evidence = cos + s * (share + split
 *      share), the split share being
 *      the question's idf weight the memory holds in such words.  USE
 *      lite reads an 8,000-piece SentencePiece vocabulary (embed_use.c):
 *      a word outside it ("monorepo", "playbooks", "pnpm", "kestrel") is
 *      read as fragments that carry little of it, so the cosine weighs it
 *      little, and the exact match of it is evidence the encoder could not
 *      weigh; a word the vocabulary holds whole ("mobile", "web", "app")
 *      the cosine has already weighed, and it keeps rule 12's weight.  The
 *      factor 2 is not chosen: it counts the word once for the encoder's
 *      share of the evidence it missed and once as the word.  Identifiers
 *      and tool names are such words more often than prose is, which is
 *      where the encoder falls short (set K).  The question's folded
 *      words (BM25's tokens) are cut into pieces at each recall (a
 *      Viterbi pass over a dozen short words).  Glove's recall would be
 *      unchanged.  hit@1 / hit@3 at 50-56 memories, then after 500
 *      unrelated ones (one run each, loaded machine):
 *        rules 12 to 16       main A 0.964 / 1.000, 0.929 / 0.964
 *                             C A    0.880 / 0.960, 0.880 / 0.960
 *                             G A    0.821 / 0.857, 0.750 / 0.857
 *                             J A    0.929 / 0.964, 0.893 / 0.893
 *                             L A    0.750 / 0.929, 0.714 / 0.893
 *        with it              main A, C A unchanged
 *                             G A    0.821 / 0.893, 0.750 / 0.857
 *                             J A    0.929 / 0.964, 0.929 / 0.929
 *                             L A    0.821 / 0.929, 0.786 / 0.893
 *      Mean hit@1 over A's ten figures 0.851 -> 0.869; no question lost.
 *      Fixed on L at both sizes: "how do I build everything in the web
 *      client monorepo?" (it lost to the Sentry memory's
 *      "web-client-prod"), "What prefix do urgent fix branches get?".
 *      What "in pieces" covers: the vocabulary is small, and besides
 *      identifiers and jargon ("monorepo", "playbooks", "dotfiles",
 *      "camelcase", "vpn") it cuts ordinary words it reads as a stem and
 *      an ending ("servers", "branches", "stored") and folded names
 *      ("python", "friday"), so the rule counts twice, in effect, the
 *      words rarer than the encoder's own vocabulary.  Halves B: every
 *      hit@1 and hit@3 unchanged (main B 0.889 / 0.963, 0.926 / 0.926; C B 0.920 / 1.000,
 *      0.840 / 0.960; G B 0.750 / 0.929, 0.679 / 0.821; J B 0.821 / 0.929,
 *      0.786 / 0.893; L B 0.786 / 0.857, 0.750 / 0.821), L B's MRR 0.822
 *      -> 0.835 and 0.787 -> 0.799.  Held out, once (docs/BENCHMARKS.md),
 *      hit@1 at 52-64 memories / after 500, rules 12 to 16 then with it:
 *        D   0.967 / 0.950  ->  0.967 / 0.933
 *        F   0.859 / 0.766  ->  0.859 / 0.766
 *        H   0.818 / 0.800  ->  0.800 / 0.800
 *        I   0.891 / 0.836  ->  0.891 / 0.855
 *        K   0.635 / 0.596  ->  0.615 / 0.596
 *        mean of the ten 0.812 -> 0.808
 *      It lowers the held-out mean (D loses one question after the 500
 *      unrelated memories, H and K one each at 52-55, I gains one), so it
 *      is left out, though it lost no development question: its reason
 *      holds for identifiers, but in an 8,000-piece vocabulary most words
 *      it doubles are ordinary ones, and on K, the set it was for, it
 *      moves one question the wrong way.  Also tried on A and left out:
 *     a truncation as a form of a question word no memory has (its
 *       longest prefix of at least 4 letters, at most its length less 2,
 *       that some memory has: "auth" for "authentication", "prod" for
 *       "production"), in the lexical query and the share: L A after 500
 *       hit@3 0.893 -> 0.929, G A glove after 500 0.714 -> 0.750, J A
 *       after 500 0.893 -> 0.857 ("coaching" found "coach" in another
 *       memory).  It takes an inflection's stem for an abbreviation, and
 *       an abbreviation cannot be told from a stem without knowing which
 *       words are identifiers.
 *     the double count without the question's names (rule 8 already puts them
 *       first, so they need no second count): the same figures on A.
 *       Left out as a condition that changes nothing.
 *     the double count for a word only when none of its forms (rule 7) is one
 *       piece in lower case, capitalised or in capitals ("server",
 *       "Python" and "VPN" are whole): L A 0.786 / 0.929, 0.750 / 0.893,
 *       one question lost at each size, the rest of A unchanged.
 *     a memory's share of words the encoder splits (of all its words,
 *       not the question's) multiplying its share, 1 + split: L A 0.821 /
 *       0.929, 0.821 / 0.893, but main B lost "Who designs the mobile
 *       app?" to "The mobile app supports iOS 16 and newer." (equal
 *       shares; the distractor's "iOS 16" is in pieces).
 *  18. A name of the question (rule 8, less rule 13's lone digits) that the
 *      encoder reads as one piece of its vocabulary counts within the
 *      spread, not first: evidence = cos + s * (share + whole), whole the
 *      share of the question's names the memory holds that the encoder
 *      reads whole (lead_names; cvs__embedder_pieces asks the attached
 *      encoder's own tokenizer).  Rule 12 (c) put every name first because
 *      the encoder could not weigh it: `use`'s 8,000 pieces read most names
 *      in fragments ("friday", "python", "kestrel").  A name the
 *      vocabulary holds whole is one the encoder has learnt and has already
 *      weighed in its cosine; putting it first as well let every memory
 *      holding a day's name pass the answer ("Is wine okay on a Tuesday
 *      evening?" for "no alcohol on school nights", "Can I push a release
 *      late on Friday afternoon?": the Friday on-call shift first).  A name
 *      the encoder reads in pieces ("pihole" to `minilm`, most names to
 *      `use`) still comes first, as before.  This is where rule 12's reason
 *      fails for a stronger encoder: all-MiniLM-L6-v2's 30,522 WordPiece
 *      pieces hold days, months, common first names and many tools whole;
 *      with `use` no figure below moves.
 *      Looked for with `minilm` on halves A of the main set, C, G, J and L
 *      (their misses printed), after set M (a household organiser's 56
 *      facts, bench/data/README.md) was written, committed alone and run
 *      once on rules 12 to 15.  On A, with rules 12 to 15, `minilm`'s
 *      hybrid recall was at least its vector ranking on every figure (262
 *      against 260 of 274 questions first), and the only miss the vector
 *      ranking got was a day's name taken for a name (L A at 556, above);
 *      the day's name also kept J A's two answers from first place.
 *      The decision rule, fixed before measuring: adopt if the questions
 *      first over A's ten figures rise by at least two and no set's half
 *      loses more than one at either size; then halves B, then set M's
 *      second run with and without, and not if M falls.  hit@1 at 50-56
 *      memories, then after 500 unrelated ones (one run each, loaded
 *      machine), `minilm`:
 *        rules 12 to 15       main A 1.000, 0.964   main B 0.926, 0.963
 *                             C A    0.960, 0.960   C B    1.000, 0.960
 *                             G A    0.964, 0.929   G B    0.893, 0.786
 *                             J A    0.964, 0.929   J B    0.893, 0.857
 *                             L A    0.964, 0.929   L B    0.786, 0.786
 *        with rule 18         J A    1.000, 1.000   J B    0.929, 0.893
 *                             L A    0.964, 0.964   L B    0.821, 0.821
 *                             (the rest unchanged)
 *      A: 262 -> 266 questions first (mean hit@1 0.956 -> 0.971), none
 *      lost; B: 240 -> 244 (0.876 -> 0.890), none lost.  With `use` every
 *      hit@1 of both halves is unchanged (A main .964 / .929, C .920 /
 *      .920, G .821 / .750, J .893 / .821, L .750 / .714; B main .889 /
 *      .926, C .920 / .840, G .750 / .714, J .821 / .786, L .786 / .750).
 *      Every name within the spread, whatever its pieces (a scratch build,
 *      on A): `minilm` the same 266; `use` 233 against 232, C A losing one
 *      question at each size (as "names within the spread" did, above),
 *      which is why the test is the encoder's pieces, not its name.
 *      Set M (held out), its second run, with and without the rule:
 *      `minilm` 0.964 / 0.964 -> 0.982 / 0.982, `use` 0.946 / 0.946 both.
 *      In the final table (docs/BENCHMARKS.md; the held-out sets had
 *      all been run with `minilm` before), rule 18 lowered no figure of
 *      either encoder; with `use` it moved I (0.873 / 0.818 -> 0.891 /
 *      0.836) and K (0.635 / 0.577 -> 0.654 / 0.596): `use` holds a few
 *      names whole.
 *      Cost: one tokenization of each of the question's names per recall.
 *   Looked for after rule 18 with `minilm`, on halves A of the main set, C,
 *   G, J and L (their misses printed), after set N (a PhD student's research
 *   assistant, 56 facts, bench/data/README.md) was written, committed alone
 *   and run once.  A, rules 12 to 15 and 18: 266 of 274 questions first (the
 *   `vector` strategy 260), and no question that the `vector` strategy puts
 *   first and the hybrid recall does not.  That strategy is not the cosine
 *   alone: recall_weigh multiplies by rule 8's name factor in every recall
 *   that rule 12 does not lead, so a memory holding the question's
 *   capitalised words ("Wednesday") comes first there too.  The eight misses: paraphrases the
 *   encoder too ranks second or lower ("Where should meeting minutes go?",
 *   "Where does the user work from?" for "coworking desk", which "works
 *   remotely" holds the word of; "What port does the main app use on my
 *   machine?" for "localhost:8080"), and after the 500 unrelated memories a
 *   template the encoder puts nearer than an answer holding the question's
 *   rarest word ("Read an article on typography ..." for "When am I most
 *   productive at writing?", "Bought 3 coffee filters ..." for "How does the
 *   user take their coffee?").  The decision rule, fixed before measuring:
 *   adopt if the questions first over A's ten figures rise by at least two,
 *   no set's half loses more than one at either size and `use`'s halves A
 *   lose none; then halves B, then sets N and M with and without, and not if
 *   either falls.  Tried and left out:
 *     the share counts only the question's words the encoder reads in
 *       pieces (the word-level form of rule 18's reason: all-MiniLM-L6-v2's
 *       30,522 pieces hold nearly every ordinary word whole, so its cosine
 *       has weighed them, and rule 10's share counted them a second time).
 *       `minilm` A 266 -> 264 (C A at 550 and L A at 556 lose one each),
 *       `use` A 232 -> 223; B 244 -> 245 of 272 (main B and G B gain one
 *       with the facts alone, the rows where the vector ranking had beaten
 *       the hybrid recall, L B loses one after the 500).
 *     the same, and rule 18's names read whole counted by the cosine alone:
 *       `minilm` A 263 (C A loses one at each size), B 245.
 *   What the reason misses: a cosine weighs the kind of a word more than
 *   which word it is.  Without the whole words' share, "What does the user
 *   do on Wednesday nights?" put "works remotely on Mondays and Fridays"
 *   above "climbing ... on Wednesday evenings" (two days of the week), and "Is
 *   it okay to type something as any?" the typography template above "In
 *   TypeScript ... no 'any'"; the exact word tells them apart, whole in the
 *   vocabulary or not.  A graded share (a word in p pieces counting 1 - 1/p
 *   of its weight), the third variant written down, was not run: it gives
 *   a whole word nothing too, which is where both losses came from.  No
 *   rule was taken, so sets N and M were run only in the final table
 *   (docs/BENCHMARKS.md).  One run each, loaded machine (load average 7-8
 *   on 2 cores).
 *   Looked for again with `minilm` after set O (a support engineer's memory
 *   of customer accounts, 56 facts, bench/data/README.md) was written and
 *   committed alone, before any miss was read: halves A of the main set, C,
 *   G, J and L, 266 of 274 questions first, the same eight misses as above.
 *   Classed: paraphrases the encoder too ranks second or lower (C "Where does
 *   the user work from?", G "Where should meeting minutes go?", at both
 *   sizes); a template of the 500 unrelated memories above the answer (main
 *   "coffee filters", G "typography", after the 500); jargon no word joins
 *   (L "port" for "localhost:8080", both sizes).  No miss of A is an
 *   identifier or tool name the question and one memory share: the
 *   questions name identifiers in other words ("the authentication
 *   service"), and the ones they do name are rule 8's names already.  The
 *   class with a reason was the templates': a memory whose
 *   neighbourhood is dense (a template's near-copies, "Bought 3 coffee
 *   filters ...", "Bought 5 coffee filters ...") is near many questions
 *   for its frame, not for its content, the hubness that cross-domain
 *   similarity local scaling corrects (CSLS, Conneau et al., "Word
 *   Translation Without Parallel Data", ICLR 2018: 2 cos(x, y) - r(x) -
 *   r(y), r the mean cosine to the K = 10 nearest of the other side; here
 *   the other side is the memories themselves, found by one exact search
 *   of the candidates' vectors over the scope).  Densities measured: facts
 *   0.20-0.36, the coffee-filter templates 0.64-0.68.  Three variants, the
 *   decision rule of rule 18 (at least two more questions first over A's
 *   ten figures, no set's half losing more than one at either size), hit@1
 *   of main A, C A, G A, J A, L A, facts alone / after the 500, in
 *   questions:
 *     rules 12-15, 18      28/27 24/24 27/26 28/28 27/27   266
 *     cos - r/2 (CSLS)     28/28 23/23 26/26 27/27 27/27   262
 *     cos - (r - median
 *       of the candidates'
 *       r)/2, when above   28/28 23/24 27/26 27/28 27/27   265
 *     cos - (r - the
 *       question's own r)/2,
 *       when above         28/28 24/23 26/25 28/28 27/27   264
 *   Each fixed main's coffee question and none G's typography.  Each lost
 *   C's "Who is the user's GP?" at one size or both (among the doctor,
 *   insurance and bank memories, a near tie of cosine 0.362 against 0.353
 *   at 50); the first and third G's "What language am I trying to pick
 *   up?" (its facts are kept in one frame, "Asked me to ...", "Told me
 *   ..."), the first and second J's "When is our anniversary?" (among the
 *   family's dates).  What the reason misses: the
 *   encoder's density measures a shared frame as much as a shared topic,
 *   so a real memory kept in the user's usual phrasing is as dense as a
 *   template, and the correction cannot tell them apart.  None taken; no
 *   variant was run on halves B or on set O.  One run each, loaded machine.
 *  19. A memory superseded by a live memory is the old value of the same
 *      fact, so whenever it is a candidate, its replacement answers the
 *      question too, and with the value that holds now (recall_settle,
 *      replaced_first).  Deviation 3's factor alone did not say so:
 *      CVS_MEM_SUPERSEDED_WEIGHT (1/4) multiplies a relevance that rule 14
 *      makes exponential in spreads, so a replacement more than ln 4 = 1.39
 *      spreads below what it replaced lost to it (`minilm`, two memories:
 *      "My dentist appointment is on Tuesday at 10am." and, superseding
 *      it, "My dentist appointment moved to Friday at 3pm."; for "When is
 *      my dentist appointment?" the old one scored 0.25, the new 0.135:
 *      the agent answered with the stale fact), and in the fusion rule 8's
 *      factor of about 7 per name the old one holds and the new does not
 *      does the same.  So, after every other weight (recall_settle, the
 *      context scope's settle):
 *      (a) the superseded candidate is multiplied by the factor, and the
 *          newest live memory of its chain of replacements
 *          ("_superseded_by" followed while the next memory exists,
 *          MEM_CHAIN_MAX steps at most) gets at least the relevance it
 *          then has: raised when it is a candidate, joined to the
 *          candidates when it is not (its path then ends with a
 *          "superseded_by" step from the old one).  The replacement takes
 *          the old value's place, not the place the old value would have
 *          had unsuperseded: its claim to relevance is the old one's match
 *          to the question, which the factor says how much to count, and
 *          what else the recall ranks keeps its place around the pair.
 *          Tried first and left out: the relevance before the factor.  It
 *          put an unrelated fact's newest value above the answer whenever
 *          the encoder ranked an older value of it first (test_use.c's
 *          store of 106, whose templates revise each other: "The Denver
 *          office closes early on Mondays." / "... on Wednesdays." came
 *          first for "Which afternoons am I on pickup duty?"), undoing
 *          what the factor was for;
 *      (b) the answer (replaced_first, after the selection, whichever
 *          strategy, k and budget) never holds a superseded memory without
 *          its replacement: the replacement comes in beside it when k and
 *          the budget leave room, in its place when it fits there, and
 *          otherwise the superseded one is left out; and a superseded
 *          memory is listed after its replacement, whatever the scores.
 *      The order of (b) is the reason's, not the selection's: the diverse
 *      selection weighs gain per token, so a short old value could be
 *      chosen before a long new one, and a cut at k could keep it alone.
 *      With (a) the two may tie (the dentist's pair: 0.25 each), and (b)
 *      puts the replacement first.
 *      A replacement that the recall's filter leaves out cannot be
 *      returned, and changes nothing: the old value keeps the factor, as
 *      before.  A recall none of whose candidates is superseded runs as
 *      before bit for bit: nothing joins, nothing moves, and the factor,
 *      moved from recall_weigh to recall_settle, is a power of two, so the
 *      superseded memories' products are the same too.  Nothing here was
 *      chosen on a data set; `cvstore-bench memory` (no fact of its sets
 *      supersedes another) gives the same figures before and after
 *      (docs/BENCHMARKS.md).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/context.h"
#include "query/embed.h"
#include "query/text.h"
#include "store/db.h"
#include "store/filter.h"
#include "text/tokenize.h"

#define MEM_ID_PREFIX "m"
#define MEM_ID_HEX 16          /* random bytes * 2 */
#define MEM_PLAN_TRIES 16      /* deviation 6: remember's plans before the last, unchecked */
#define MEM_NEAR_PROBE 4       /* vector neighbours checked for near-duplicates */
#define MEM_EMBED_CHUNK 256    /* deviation 7: texts of one embedding call, at most */
#define MEM_POOL_MIN 50        /* candidates per ranking, at least */
#define MEM_SCALE_SAMPLE 128   /* rule 15: memories whose cosines give the scale */
/* Rule 9 (stand_in): */
#define MEM_NEAR_COS 0.75f     /* least cosine of a synonym */
#define MEM_STEM_COS 0.5f      /* least cosine of a word of the same stem */
#define MEM_NEAR_FROM 1000     /* GloVe's more frequent words get no stand-in */
#define MEM_NEAR_RANK 30000    /* stand-ins are among GloVe's most frequent words */
#define MEM_NEAR_TRY 64        /* nearest words tried */
#define MEM_THEME_WORDS 4      /* deviation 2: the most words of a theme */
#define MEM_CHAIN_MAX 64       /* rule 19: replacements followed, at most */

/* ==== Small helpers ==== */

static const char *ns_or_default(const char *ns)
{
    return ns && *ns ? ns : CVS_MEM_DEFAULT_NS;
}

static int check_ns(const char *ns)
{
    size_t n = strlen(ns);
    if (n > CVS_MEM_NS_MAX)
        return cvs__err(CVS_EINVAL, "namespace of %zu bytes (at most %d)", n, CVS_MEM_NS_MAX);
    if (!cvs__utf8_valid(ns, n))
        return cvs__err(CVS_EINVAL, "namespace is not valid UTF-8");
    return CVS_OK;
}

/* A namespace a memory may be written into: check_ns's, and not blank
 * (only spaces, of any script) nor holding a control character (C0, DEL,
 * C1).  Either is a caller's slip (an empty variable padded with a space,
 * a line read with its newline) that would file memories under a name no
 * one can type or see in a listing, apart from the memories it was meant
 * for.  Reading is not refused: a store written before this check may
 * hold such a namespace, and its memories stay listable, recallable and
 * forgettable. */
static int check_ns_write(const char *ns)
{
    const unsigned char *p = (const unsigned char *)ns;
    size_t n = strlen(ns), i = 0;
    int visible = 0, rc = check_ns(ns);
    if (rc)
        return rc;
    while (i < n) {
        uint32_t c = p[i];
        size_t l = 1;
        /* valid UTF-8 (check_ns): the continuation bytes are there */
        if (c >= 0xC0) {
            l = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            c &= 0x3Fu >> (l - 1);
            for (size_t j = 1; j < l; j++)
                c = c << 6 | (p[i + j] & 0x3Fu);
        }
        if (c < 0x20 || (c >= 0x7F && c < 0xA0))
            return cvs__err(CVS_EINVAL, "namespace holds a control character (U+%04X at byte "
                            "%zu): a namespace is a printable name", (unsigned)c, i);
        /* Unicode's White_Space outside the controls; U+200B and U+FEFF,
         * invisible, count as blank too */
        if (!(c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
              c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 ||
              c == 0xFEFF))
            visible = 1;
        i += l;
    }
    if (!visible)
        return cvs__err(CVS_EINVAL, "namespace \"%s\" is blank (only spaces): give a name, or "
                        "none for \"%s\"", ns, CVS_MEM_DEFAULT_NS);
    return CVS_OK;
}

static void content_hash(const char *ns, const char *text, size_t len, char hex[65])
{
    crypto_generichash_state st;
    unsigned char h[32], l[4];
    cvs__put_u32(l, (uint32_t)strlen(ns));
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, l, 4);
    crypto_generichash_update(&st, (const unsigned char *)ns, strlen(ns));
    crypto_generichash_update(&st, (const unsigned char *)text, len);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

static size_t tokens_of(size_t bytes)
{
    return (bytes + 3) / 4;
}

static double cosine(const float *a, const float *b, uint32_t dim)
{
    double d = 0, na = 0, nb = 0;
    for (uint32_t i = 0; i < dim; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return na > 0 && nb > 0 ? d / sqrt(na * nb) : 0;
}

/* Distinct tokens of a text (BM25's: folded, accents stripped, stop words
 * dropped), sorted, as pointers into tok. */
typedef struct wordset {
    cvs_tokens tok;
    const char **w;
    size_t *cnt;               /* how often w[i] occurs in the text */
    size_t n;
} wordset;

static int cmp_word(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int wordset_make(const char *text, size_t len, wordset *ws)
{
    int rc = cvs__tokenize(text, len, CVS_TOK_STRIP_ACCENTS, &ws->tok);
    size_t m = 0;
    if (rc)
        return rc;
    if (!(ws->w = malloc((ws->tok.n ? ws->tok.n : 1) * sizeof *ws->w)) ||
        !(ws->cnt = malloc((ws->tok.n ? ws->tok.n : 1) * sizeof *ws->cnt)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < ws->tok.n; i++)
        ws->w[i] = ws->tok.buf + ws->tok.off[i];
    if (ws->tok.n)
        qsort(ws->w, ws->tok.n, sizeof *ws->w, cmp_word);
    for (size_t i = 0; i < ws->tok.n; i++) {
        if (m == 0 || strcmp(ws->w[m - 1], ws->w[i])) {
            ws->cnt[m] = 0;
            ws->w[m++] = ws->w[i];
        }
        ws->cnt[m - 1]++;
    }
    ws->n = m;
    return CVS_OK;
}

static void wordset_free(wordset *ws)
{
    cvs__tokens_free(&ws->tok);
    free(ws->w);
    free(ws->cnt);
    memset(ws, 0, sizeof *ws);
}

/* Whether every word of b is in a, as often (both sorted and distinct).
 * As often: "meeting 2 ... on March 2" / "meeting 3 ... on March 2" keeps
 * a 2 but changes a fact, and a merge would overwrite the old one. */
static int covers(const wordset *a, const wordset *b)
{
    size_t i = 0, j = 0;
    while (j < b->n) {
        int c = i < a->n ? strcmp(a->w[i], b->w[j]) : 1;
        if (c > 0 || (c == 0 && a->cnt[i] < b->cnt[j]))
            return 0; /* b->w[j] is not in a, or fewer times */
        i++;
        j += c == 0;
    }
    return 1;
}

/* |A and B| / |A or B| of two word sets; 1 for two empty ones. */
static double jaccard(const wordset *a, const wordset *b)
{
    size_t i = 0, j = 0, both = 0;
    while (i < a->n && j < b->n) {
        int c = strcmp(a->w[i], b->w[j]);
        both += c == 0;
        i += c <= 0;
        j += c >= 0;
    }
    return a->n + b->n ? (double)both / (double)(a->n + b->n - both) : 1.0;
}

/* The filter {"_ns": ns} ANDed with the caller's JSON filter (may be NULL);
 * a caller's filter may not name reserved members. */
static int ns_filter(const char *ns, const char *extra, size_t extra_len, cvs_filter **out)
{
    json_t *obj = NULL;
    json_error_t je;
    char *txt = NULL;
    int rc = CVS_OK;

    *out = NULL;
    if (extra) {
        if (!(obj = json_loadb(extra, extra_len ? extra_len : strlen(extra), 0, &je)) ||
            !json_is_object(obj)) {
            rc = cvs__err(CVS_EINVAL, "filter: not a JSON object%s%s", obj ? "" : ": ",
                          obj ? "" : je.text);
            goto cleanup;
        }
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            if (k[0] == '_') {
                rc = cvs__err(CVS_EINVAL, "filter: member \"%s\" is reserved", k);
                goto cleanup;
            }
        }
    } else if (!(obj = json_object())) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (json_object_set_new(obj, "_ns", json_string(ns)) ||
        !(txt = json_dumps(obj, JSON_COMPACT))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = cvs_filter_parse(txt, strlen(txt), out);
cleanup:
    free(txt);
    json_decref(obj);
    return rc;
}

/* Keys of t's records matching the filter JSON built from pairs of
 * reserved members: {"_ns": ns, name: value}. */
static int eval_pair(cvs_txn *t, const char *ns, const char *name, json_t *value,
                     uint64_t **bits, size_t *nwords, uint64_t *nmatch)
{
    json_t *obj = json_object();
    cvs_filter *f = NULL;
    char *txt = NULL;
    int rc;

    *bits = NULL;
    if (!obj || json_object_set_new(obj, "_ns", json_string(ns)) ||
        (name && json_object_set(obj, name, value)) || !(txt = json_dumps(obj, JSON_COMPACT))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = cvs_filter_parse(txt, strlen(txt), &f)))
        goto cleanup;
    rc = cvs__filter_eval(t, f, bits, nwords, nmatch);
cleanup:
    cvs_filter_free(f);
    free(txt);
    json_decref(obj);
    return rc;
}

/* The highest key set in bits below `below` (-1 when none). */
static int64_t bits_prev(const uint64_t *bits, size_t nwords, int64_t below)
{
    int64_t k = below - 1;
    if (k >= (int64_t)nwords * 64)
        k = (int64_t)nwords * 64 - 1;
    for (; k >= 0; k--) {
        uint64_t w = bits[k >> 6] & (k % 64 == 63 ? ~0ull : ((1ull << ((k & 63) + 1)) - 1));
        if (!w) {
            k &= ~63ll; /* the loop's k-- moves to the previous word */
            continue;
        }
        return (k & ~63ll) + 63 - __builtin_clzll(w);
    }
    return -1;
}

/* The record's metadata as a JSON object (a new reference; an empty object
 * when it has none). */
static int meta_of(const cvs_record *r, json_t **out)
{
    json_error_t je;
    *out = r->meta && r->meta_len ? json_loadb(r->meta, r->meta_len, 0, &je) : json_object();
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return cvs__err(CVS_ECORRUPT, "record \"%.*s\": metadata is not a JSON object",
                        (int)r->id_len, r->id);
    }
    return CVS_OK;
}

static const char *meta_str(json_t *m, const char *name)
{
    return json_string_value(json_object_get(m, name));
}

/* ==== Owned copies of records, for rewriting ==== */

/* A record copied out of a snapshot, so that it can be changed and put back
 * after the snapshot ends. */
typedef struct mem_rec {
    char *id;
    size_t id_len;
    char *text;
    size_t text_len;
    char *title;
    size_t title_len;
    json_t *meta;
    cvs_link *links;
    size_t nlinks;
    char **strs;           /* the links' id and type copies */
    size_t nstrs;
    float *vec;
    char *meta_txt;        /* serialized for the put */
} mem_rec;

static void mem_rec_clear(mem_rec *m)
{
    free(m->id);
    free(m->text);
    free(m->title);
    json_decref(m->meta);
    for (size_t i = 0; i < m->nstrs; i++)
        free(m->strs[i]);
    free(m->strs);
    free(m->links);
    free(m->vec);
    free(m->meta_txt);
    memset(m, 0, sizeof *m);
}

static char *memdup0(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Appends a link (strings copied). */
static int mem_rec_add_link(mem_rec *m, const char *id, size_t id_len, const char *type,
                            float weight)
{
    cvs_link *l = realloc(m->links, (m->nlinks + 1) * sizeof *l);
    char **s;
    if (!l)
        return cvs__err(CVS_ENOMEM, "out of memory");
    m->links = l;
    if (!(s = realloc(m->strs, (m->nstrs + 2) * sizeof *s)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    m->strs = s;
    if (!(s[m->nstrs] = memdup0(id, id_len)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    m->nstrs++;
    l = &m->links[m->nlinks];
    l->id = s[m->nstrs - 1];
    l->id_len = id_len;
    l->type = NULL;
    l->weight = weight;
    if (type && *type) {
        if (!(s[m->nstrs] = memdup0(type, strlen(type))))
            return cvs__err(CVS_ENOMEM, "out of memory");
        l->type = s[m->nstrs++];
    }
    m->nlinks++;
    return CVS_OK;
}

static int mem_rec_has_link(const mem_rec *m, const char *id, size_t id_len, const char *type)
{
    for (size_t i = 0; i < m->nlinks; i++)
        if (m->links[i].id_len == id_len && !memcmp(m->links[i].id, id, id_len) &&
            !strcmp(m->links[i].type ? m->links[i].type : "", type ? type : ""))
            return 1;
    return 0;
}

static int mem_rec_load(cvs_txn *t, int64_t key, mem_rec *m)
{
    cvs_record r;
    int rc;

    memset(m, 0, sizeof *m);
    if (!(m->vec = malloc((size_t)t->db->dim * sizeof *m->vec)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = cvs_get_key(t, key, &r, m->vec)))
        goto fail;
    if ((rc = meta_of(&r, &m->meta)))
        goto fail;
    m->id_len = r.id_len;
    m->text_len = r.text ? r.text_len : 0;
    m->title_len = r.title ? r.title_len : 0;
    if (!(m->id = memdup0(r.id, r.id_len)) || !(m->text = memdup0(r.text, m->text_len)) ||
        (r.title && !(m->title = memdup0(r.title, r.title_len)))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < r.nlinks; i++)
        if ((rc = mem_rec_add_link(m, r.links[i].id, r.links[i].id_len, r.links[i].type,
                                   r.links[i].weight)))
            goto fail;
    return CVS_OK;
fail:
    mem_rec_clear(m);
    return rc;
}

/* Fills a cvs_record pointing into m (serializing its metadata). */
static int mem_rec_record(mem_rec *m, cvs_record *r)
{
    free(m->meta_txt);
    if (!(m->meta_txt = json_dumps(m->meta, JSON_COMPACT | JSON_REAL_PRECISION(17))))
        return cvs__err(CVS_ENOMEM, "out of memory");
    memset(r, 0, sizeof *r);
    r->id = m->id;
    r->id_len = m->id_len;
    r->vector = m->vec;
    r->text = m->text;
    r->text_len = m->text_len;
    r->title = m->title;
    r->title_len = m->title_len;
    r->meta = m->meta_txt;
    r->meta_len = strlen(m->meta_txt);
    r->links = m->links;
    r->nlinks = m->nlinks;
    return CVS_OK;
}

/* Puts n owned records in one transaction; with snap, only onto that
 * snapshot (CVS__STALE when another writer came between: deviation 6). */
static int mem_recs_put(cvs_db *db, mem_rec *const *ms, size_t n, const uint64_t *snap)
{
    cvs_record *recs = calloc(n ? n : 1, sizeof *recs);
    int rc = CVS_OK;
    if (!recs)
        return cvs__err(CVS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == CVS_OK; i++)
        rc = mem_rec_record(ms[i], &recs[i]);
    if (rc == CVS_OK)
        rc = snap ? cvs__put_since(db, recs, n, 0, *snap) : cvs_put(db, recs, n, 0, NULL, NULL);
    free(recs);
    return rc;
}

/* The key of memory id in namespace ns: CVS_NOTFOUND when there is no such
 * record or it belongs to another namespace (or is no memory). */
static int find_in_ns(cvs_txn *t, const char *ns, const char *id, size_t id_len, int64_t *key)
{
    cvs_record r;
    json_t *m = NULL;
    int rc;
    if ((rc = cvs_get(t, id, id_len, &r, NULL)))
        return rc;
    if ((rc = meta_of(&r, &m)))
        return rc;
    const char *rns = meta_str(m, "_ns");
    rc = rns && !strcmp(rns, ns) ? CVS_OK : CVS_NOTFOUND;
    json_decref(m);
    *key = r.key;
    return rc;
}

/* ==== Remember ==== */

/* What the snapshot of a remember found out.  A key at or above
 * MEM_NEW_KEY is a memory the same call added (deviation 7). */
typedef struct plan {
    int64_t dup;           /* exact duplicate's key, or -1 */
    int64_t near;          /* near-duplicate to update in place, or -1 */
    int64_t revision;      /* near in embedding but not in words: superseded */
    float near_sim;        /* cosine similarity to near or revision */
    int64_t superseded;    /* key of the memory this one supersedes, or -1 */
    int64_t prev;          /* the conversation's last memory, or -1 */
    int64_t seq;           /* this memory's position in the conversation */
} plan;

/* Keys of the memories a call adds, in the order it adds them: above any
 * key a store gives, so they sort as newest, as the keys the store will
 * give them (next_key and up, in put order) do. */
#define MEM_NEW_KEY (INT64_C(1) << 62)

/* ==== The call's view: its snapshot and what it wrote so far ==== */

/* A memory the call has written (deviation 7): the record as the call will
 * put it, and its vector as the store would give it back after that put. */
typedef struct view_rec {
    mem_rec m;
    int64_t key;           /* the store's, or MEM_NEW_KEY + n for the call's nth new one */
    float *stored;         /* m.vec as stored: unit length in a cosine store,
                              rounded to half precision in an f16 one */
} view_rec;

/* The store as the texts of one call see it: the snapshot t with the
 * memories the call's earlier texts added or changed laid over it. */
typedef struct mem_view {
    cvs_txn *t;
    view_rec **w;          /* in order of first write: the put's order */
    size_t n, cap;
    size_t nnew;           /* of them new */
} mem_view;

static void view_clear(mem_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        mem_rec_clear(&v->w[i]->m);
        free(v->w[i]->stored);
        free(v->w[i]);
    }
    free(v->w);
    v->w = NULL;
    v->n = v->cap = v->nnew = 0;
}

static view_rec *view_find(const mem_view *v, int64_t key)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->w[i]->key == key)
            return v->w[i];
    return NULL;
}

/* A new entry for key, with room for its stored vector. */
static int view_add(mem_view *v, int64_t key, view_rec **out)
{
    view_rec *r;
    *out = NULL;
    if (cvs__grow((void **)&v->w, &v->cap, v->n + 1, sizeof *v->w, "out of memory"))
        return CVS_ENOMEM;
    if (!(r = calloc(1, sizeof *r)) ||
        !(r->stored = malloc((size_t)v->t->db->dim * sizeof *r->stored))) {
        free(r);
        return cvs__err(CVS_ENOMEM, "out of memory");
    }
    r->key = key;
    v->w[v->n++] = r;
    *out = r;
    return CVS_OK;
}

/* Sets r->stored from r->m.vec, as cvs_put stores a vector and cvs_get
 * gives it back (store/put.c: divided by its norm in double in a cosine
 * store, then encoded in the store's raw precision). */
static int view_stored(const mem_view *v, view_rec *r)
{
    const cvs_db *db = v->t->db;
    unsigned char *enc = malloc(cvs__vec_bytes(db));
    if (!enc)
        return cvs__err(CVS_ENOMEM, "out of memory");
    if (db->metric == CVS_METRIC_COSINE)
        cvs__unit_vec(db, r->m.vec, r->stored);
    else
        memcpy(r->stored, r->m.vec, (size_t)db->dim * sizeof *r->stored);
    cvs__encode_vec(db, r->stored, enc);
    cvs__decode_vec(db, enc, r->stored);
    free(enc);
    return CVS_OK;
}

/* The memory of key to change, as a load from the store would give it: an
 * entry of the call (its vector back to the stored one, which a load
 * reads and a put writes again) or a copy of the store's record, added. */
static int view_load(mem_view *v, int64_t key, view_rec **out)
{
    view_rec *r = view_find(v, key);
    int rc;
    if (r) {
        memcpy(r->m.vec, r->stored, (size_t)v->t->db->dim * sizeof *r->stored);
        *out = r;
        return CVS_OK;
    }
    if ((rc = view_add(v, key, &r)))
        return rc;
    if ((rc = mem_rec_load(v->t, key, &r->m))) {
        free(r->stored);
        free(r);
        v->n--;
        return rc;
    }
    memcpy(r->stored, r->m.vec, (size_t)v->t->db->dim * sizeof *r->stored);
    *out = r;
    return CVS_OK;
}

/* The text, metadata (a new reference) and, when vec is not NULL, the
 * stored vector of key as the call sees it.  The text stays valid until
 * the view's next change or the snapshot's end. */
static int view_get(mem_view *v, int64_t key, const char **text, size_t *len, json_t **meta,
                    float *vec)
{
    view_rec *r = view_find(v, key);
    cvs_record rec;
    int rc;
    if (r) {
        *text = r->m.text;
        *len = r->m.text_len;
        *meta = json_incref(r->m.meta);
        if (vec)
            memcpy(vec, r->stored, (size_t)v->t->db->dim * sizeof *vec);
        return CVS_OK;
    }
    if ((rc = cvs_get_key(v->t, key, &rec, vec)) || (rc = meta_of(&rec, meta)))
        return rc;
    *text = rec.text ? rec.text : "";
    *len = rec.text ? rec.text_len : 0;
    return CVS_OK;
}

/* The metadata of key as the call sees it (a new reference). */
static int view_meta(mem_view *v, int64_t key, json_t **meta)
{
    const char *text;
    size_t len;
    return view_get(v, key, &text, &len, meta, NULL);
}

static int cmp_key_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Keys of the memories of ns whose member name equals value (a string),
 * as the call sees them, newest (highest key) first, into *keys (freed by
 * the caller).  The store's filter answers for its records; an entry of
 * the call answers for itself (a merge may have given it the member). */
static int view_match(mem_view *v, const char *ns, const char *name, json_t *value,
                      int64_t **keys, size_t *n)
{
    uint64_t *bits = NULL, nm;
    size_t nw, m = 0;
    int64_t *k = NULL;
    int rc;

    *keys = NULL;
    *n = 0;
    if ((rc = eval_pair(v->t, ns, name, value, &bits, &nw, &nm)))
        return rc;
    if (!(k = malloc(((size_t)nm + v->n + 1) * sizeof *k))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int64_t key = (int64_t)nw * 64; (key = bits_prev(bits, nw, key)) >= 0;)
        if (!view_find(v, key))
            k[m++] = key;
    for (size_t i = 0; i < v->n; i++) {
        json_t *meta = v->w[i]->m.meta;
        if (!strcmp(meta_str(meta, "_ns") ? meta_str(meta, "_ns") : "", ns) &&
            json_equal(json_object_get(meta, name), value))
            k[m++] = v->w[i]->key;
    }
    qsort(k, m, sizeof *k, cmp_key_desc);
    *keys = k;
    *n = m;
    k = NULL;
cleanup:
    free(k);
    free(bits);
    return rc;
}

typedef struct near_cand {
    int64_t key;
    double score;          /* by the store's metric, higher nearer */
} near_cand;

/* Nearest first, ties to the smaller key, as the exact search's heap
 * breaks them (core/heap.h): a text equally near two memories takes the
 * older, one call a text or many. */
static int cmp_near_cand(const void *a, const void *b)
{
    const near_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->key > y->key) - (x->key < y->key);
}

/* x's closeness to q by the store's metric (higher nearer), as the exact
 * search orders: x is a stored vector (unit length in a cosine store). */
static double metric_score(const cvs_db *db, const float *q, const float *x)
{
    double s = 0;
    for (uint32_t d = 0; d < db->dim; d++)
        s += db->metric == CVS_METRIC_L2 ? -((double)q[d] - x[d]) * ((double)q[d] - x[d])
                                         : (double)q[d] * x[d];
    return s;
}

/* The MEM_NEAR_PROBE memories of filter f nearest to vec as the call sees
 * them, padded with -1: the store's exact search, less the memories the
 * call changed, with the call's entries scored in on their stored vectors
 * (the search's too, by the same sums, so that the two compare).  With no
 * entry, the search's own answer. */
static int view_nearest(mem_view *v, const cvs_filter *f, const float *vec, int64_t *labels)
{
    const cvs_db *db = v->t->db;
    cvs_search_params sp = {.flags = CVS_SEARCH_EXACT, .filter = f};
    size_t k = MEM_NEAR_PROBE, nc = 0;
    int64_t *lab = NULL;
    float *sc = NULL, *x = NULL;
    near_cand *c = NULL;
    int rc;

    for (size_t i = 0; i < v->n; i++)
        k += v->w[i]->key < MEM_NEW_KEY; /* the search may return each of them */
    if (!(lab = malloc(k * sizeof *lab)) || !(sc = malloc(k * sizeof *sc)) ||
        !(c = malloc((k + v->n) * sizeof *c)) || !(x = malloc((size_t)db->dim * sizeof *x))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = cvs_txn_search_params(v->t, vec, 1, k, &sp, lab, sc)))
        goto cleanup;
    if (v->n == 0) {
        memcpy(labels, lab, MEM_NEAR_PROBE * sizeof *labels);
        goto cleanup;
    }
    /* The store's nearest MEM_NEAR_PROBE that the call left as they are
     * are all of the store's that can make the answer. */
    for (size_t i = 0; i < k && lab[i] >= 0 && nc < MEM_NEAR_PROBE; i++) {
        cvs_record r;
        if (view_find(v, lab[i]))
            continue; /* scored below, on what the call made of it */
        if ((rc = cvs_get_key(v->t, lab[i], &r, x)))
            goto cleanup;
        c[nc++] = (near_cand){lab[i], metric_score(db, vec, x)};
    }
    for (size_t i = 0; i < v->n; i++) {
        c[nc++] = (near_cand){v->w[i]->key, metric_score(db, vec, v->w[i]->stored)};
    }
    qsort(c, nc, sizeof *c, cmp_near_cand);
    for (size_t i = 0; i < MEM_NEAR_PROBE; i++)
        labels[i] = i < nc ? c[i].key : -1;
cleanup:
    free(lab);
    free(sc);
    free(c);
    free(x);
    return rc;
}

/* The theme of a memory's text (deviation 2): its first content word, lower
 * case, with the words before it that own it ("my son's school": "son
 * school"), at most MEM_THEME_WORDS words, space-separated into out (cap
 * bytes, NUL-terminated).  Content words are BM25's (not stop words); an
 * owner is a word ending in 's or s' (either apostrophe). */
static void theme_of(const char *text, size_t len, char *out, size_t cap)
{
    /* Besides BM25's stop words: the pronouns and determiners it keeps,
     * and the words a correction opens with.  Sorted (bsearch). */
    static const char *const no_theme[] = {"actually", "also", "am", "just", "me",  "my",
                                           "now",      "ok",   "okay", "our", "so", "still",
                                           "then",     "us",   "well", "you", "your"};
    size_t i = 0, o = 0, words = 0;
    out[0] = 0;
    while (i < len && words < MEM_THEME_WORDS) {
        unsigned char c = (unsigned char)text[i];
        if (!cvs__word_byte(c)) {
            i++;
            continue;
        }
        size_t st = i, e, own = 0, ap = 0;
        while (i < len) {
            c = (unsigned char)text[i];
            ap = c == '\'' ? 1
                        : (i + 2 < len && c == 0xe2 && (unsigned char)text[i + 1] == 0x80 &&
                           (unsigned char)text[i + 2] == 0x99) ? 3 : 0;
            if (ap) {
                /* "son's": the owner's word ends here; "parents'": too */
                if (i + ap < len && (text[i + ap] | 0x20) == 's' &&
                    (i + ap + 1 == len || !isalnum((unsigned char)text[i + ap + 1])))
                    own = ap + 1;
                else if (i > st && (text[i - 1] | 0x20) == 's')
                    own = ap;
                else if (i + ap < len && isalnum((unsigned char)text[i + ap])) {
                    i += ap; /* "don't", "o'clock": one word */
                    continue;
                }
                break;
            }
            if (!cvs__word_byte(c))
                break;
            i++;
        }
        e = i;
        i += own;
        if (e == st) {
            /* an apostrophe where a word would start: skip it */
            i = st + (own ? own : ap ? ap : 1);
            continue;
        }
        char w[32];
        size_t wl = e - st < sizeof w ? e - st : sizeof w - 1;
        for (size_t k = 0; k < wl; k++)
            w[k] = (char)tolower((unsigned char)text[st + k]);
        w[wl] = 0;
        if (!wl || cvs__is_stopword(w, wl) || bsearch(&(const char *){w}, no_theme,
                                                      sizeof no_theme / sizeof *no_theme,
                                                      sizeof *no_theme, cmp_word))
            continue;
        for (size_t k = 0; k < wl && o + 2 < cap; k++)
            out[o++] = w[k];
        out[o++] = ' ';
        out[o] = 0;
        words++;
        if (!own)
            break;
    }
}

/* The plan of one text against the view v (deviation 7: the snapshot and
 * the call's earlier texts).  f is the namespace's filter. */
static int make_plan(mem_view *v, const char *ns, const cvs_filter *f, const char *text,
                     size_t len, const char *hash, const float *vec, json_t *user,
                     const cvs_mem_remember_opts *o, float thr, plan *p)
{
    cvs_txn *t = v->t;
    wordset mine = {0}, theirs = {0};
    double words = 0;
    int kept = 0;
    int64_t *keys = NULL;
    size_t nk;
    json_t *h = NULL;
    float *cand = NULL;
    int64_t labels[MEM_NEAR_PROBE];
    int rc;

    p->dup = p->near = p->revision = p->superseded = p->prev = -1;
    p->near_sim = 0;
    p->seq = 0;
    /* Exact duplicate: one filter on the hash. */
    if (!(h = json_string(hash)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    if ((rc = view_match(v, ns, "_hash", h, &keys, &nk)))
        goto cleanup;
    if (nk) {
        p->dup = keys[0];
        goto cleanup;
    }
    free(keys);
    keys = NULL;
    /* Near duplicate: the best few vector neighbours in the namespace,
     * re-scored by exact cosine; the best above the threshold is the same
     * memory reworded when most words are shared, else a revision of it. */
    if (thr <= 1.0f) {
        if ((rc = wordset_make(text, len, &mine)))
            goto cleanup;
        if (!(cand = malloc((size_t)t->db->dim * sizeof *cand))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto cleanup;
        }
        if ((rc = view_nearest(v, f, vec, labels)))
            goto cleanup;
        for (int i = 0; i < MEM_NEAR_PROBE && labels[i] >= 0; i++) {
            const char *tx;
            size_t tl;
            json_t *m;
            int standin;
            if ((rc = view_get(v, labels[i], &tx, &tl, &m, cand)))
                goto cleanup;
            standin = json_object_get(m, "_noembed") != NULL;
            json_decref(m);
            if (standin)
                continue; /* its vector says nothing about its text */
            float s = (float)cosine(vec, cand, t->db->dim);
            if (s >= thr && s > p->near_sim) {
                p->near = labels[i];
                p->near_sim = s;
                wordset_free(&theirs);
                if ((rc = wordset_make(tx, tl, &theirs)))
                    goto cleanup;
                words = jaccard(&mine, &theirs);
                kept = covers(&mine, &theirs);
            }
        }
        /* A merge replaces the old text: only a rewording that still says
         * every name, number and word of it may do that. */
        if (p->near >= 0 && (words < CVS_MEM_SAME_WORDS || !kept)) {
            /* Deviation 2: a revision keeps the theme; another theme
             * is another fact, however near the vectors. */
            char mt[256], tt[256];
            const char *tx;
            size_t tl;
            json_t *m;
            if ((rc = view_get(v, p->near, &tx, &tl, &m, NULL)))
                goto cleanup;
            json_decref(m);
            theme_of(text, len, mt, sizeof mt);
            theme_of(tx, tl, tt, sizeof tt);
            if (!strcmp(mt, tt))
                p->revision = p->near;
            p->near = -1;
        }
    }
    /* What it supersedes: named, or the newest live memory of its subject. */
    if (o && o->supersedes) {
        rc = find_in_ns(t, ns, o->supersedes, strlen(o->supersedes), &p->superseded);
        if (rc == CVS_NOTFOUND)
            rc = cvs__err(CVS_EINPUT, "supersedes: no memory \"%s\" in namespace \"%s\"",
                          o->supersedes, ns);
        if (rc)
            goto cleanup;
    } else if (p->revision >= 0) {
        p->superseded = p->revision;
    } else if (p->near < 0 && json_is_string(json_object_get(user, "subject"))) {
        if ((rc = view_match(v, ns, "subject", json_object_get(user, "subject"), &keys, &nk)))
            goto cleanup;
        for (size_t i = 0; i < nk; i++) {
            json_t *m;
            if ((rc = view_meta(v, keys[i], &m)))
                goto cleanup;
            int live = json_object_get(m, "_superseded_by") == NULL;
            json_decref(m);
            if (live) {
                p->superseded = keys[i];
                break;
            }
        }
        free(keys);
        keys = NULL;
    }
    if (p->near >= 0 && p->near == p->superseded)
        p->superseded = -1; /* updating it in place is the stronger relation */
    /* The conversation's last memory: the highest _seq. */
    if (o && o->conversation && p->near < 0) {
        json_t *c = json_string(o->conversation);
        rc = c ? view_match(v, ns, "_conv", c, &keys, &nk)
               : cvs__err(CVS_ENOMEM, "out of memory");
        json_decref(c);
        if (rc)
            goto cleanup;
        for (size_t i = 0; i < nk; i++) {
            json_t *m;
            if ((rc = view_meta(v, keys[i], &m)))
                goto cleanup;
            json_int_t s = json_integer_value(json_object_get(m, "_seq"));
            json_decref(m);
            if (s >= p->seq) {
                p->seq = s;
                p->prev = keys[i];
            }
        }
        p->seq++;
    }
    /* The caller's links must stay inside the namespace. */
    for (size_t i = 0; o && i < o->nlinks; i++) {
        int64_t k;
        const cvs_link *l = &o->links[i];
        if (!l->id || !l->id_len) {
            rc = cvs__err(CVS_EINPUT, "link %zu: empty id", i);
            goto cleanup;
        }
        rc = find_in_ns(t, ns, l->id, l->id_len, &k);
        if (rc == CVS_NOTFOUND)
            rc = cvs__err(CVS_EINPUT, "link to \"%.*s\": no such memory in namespace \"%s\"",
                          (int)l->id_len, l->id, ns);
        if (rc)
            goto cleanup;
    }
cleanup:
    wordset_free(&theirs);
    wordset_free(&mine);
    free(cand);
    free(keys);
    json_decref(h);
    return rc;
}

/* Parses the caller's metadata: a JSON object without reserved members. */
static int user_meta(const cvs_mem_remember_opts *o, json_t **out)
{
    json_error_t je;
    const char *k;
    json_t *v;

    *out = NULL;
    if (!o || !o->meta) {
        *out = json_object();
        return *out ? CVS_OK : cvs__err(CVS_ENOMEM, "out of memory");
    }
    if (!(*out = json_loadb(o->meta, o->meta_len ? o->meta_len : strlen(o->meta), 0, &je)))
        return cvs__err(CVS_EINPUT, "metadata: %s", je.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return cvs__err(CVS_EINPUT, "metadata: not a JSON object");
    }
    json_object_foreach(*out, k, v) {
        if (k[0] == '_') {
            int rc = cvs__err(CVS_EINPUT, "metadata: member \"%s\" is reserved (names "
                              "beginning with '_')", k);
            json_decref(*out);
            *out = NULL;
            return rc;
        }
    }
    return CVS_OK;
}

/* cvs_embed_text, whose message for a store without an embedder advises
 * records with their own vectors, which no memory call takes: a memory is
 * embedded to be recalled by meaning, so the advice is a store made with
 * an embedder, or lexical recall, which needs none. */
static int mem_embed(cvs_db *db, const char *text, size_t len, float *out)
{
    cvs_embedder_info ei;
    int rc = cvs_embed_text(db, text, len, out);
    if (rc == CVS_EINVAL && cvs_db_embedder_info(db, &ei) == CVS_NOTFOUND)
        rc = cvs__err(CVS_EINVAL, "%s: the store has no embedder, and memories are embedded to "
                      "be recalled by meaning: keep them in a store made with one (`cvstore init "
                      "DB --embedder minilm`, or the lighter `--embedder use` or glove; Python: "
                      "cvstore.open(path, create=True, embedder=\"minilm\")), or recall with "
                      "retrieval lexical", db->path);
    return rc;
}

/* One text of a remember: checked, hashed and embedded before any plan. */
typedef struct mem_text {
    const char *text;
    size_t len;
    char hash[65];
    int noembed;           /* embedded with the stand-in vector */
} mem_text;

/* Checks a text as remember takes it (x->len 0 = strlen). */
static int check_text(mem_text *x, const cvs_mem_remember_opts *o)
{
    size_t cap = o && o->max_bytes ? o->max_bytes : CVS_MEM_MAX_BYTES;
    size_t ml = o && o->meta ? (o->meta_len ? o->meta_len : strlen(o->meta)) : 0;
    size_t words;
    int rc;

    if (!x->len)
        x->len = strlen(x->text);
    if (!x->len)
        return cvs__err(CVS_EINPUT, "empty text");
    if (!cvs__utf8_valid(x->text, x->len))
        return cvs__err(CVS_EINPUT, "text is not valid UTF-8");
    if (x->len > cap || ml > cap - x->len)
        return cvs__err(CVS_EINPUT, "a memory of %zu bytes (text %zu, metadata %zu) is over "
                        "the limit of %zu bytes: remember a summary, or split it",
                        x->len + ml, x->len, ml, cap);
    /* A text of spaces (U+00A0, U+3000 too) or punctuation only would be
     * stored with a stand-in vector and come back from any recall that
     * finds too little: nothing in it can be recalled for what it says. */
    if ((rc = cvs_text_words(x->text, x->len, &words)))
        return rc;
    if (!words)
        return cvs__err(CVS_EINPUT, "text has no words (only spaces, punctuation or "
                        "symbols): nothing to remember");
    return CVS_OK;
}

/* Embeds the n texts into vecs (n x dim floats), up to MEM_EMBED_CHUNK a
 * call (deviation 7).  A call that fails is made again one text a call, to
 * find the text and the reason: a text the embedder cannot embed
 * (CVS_EINPUT: no word of its vocabulary) is kept with the stand-in vector
 * (x->noembed), any other failure fails them all, named by index unless
 * the call is cvs_mem_remember's (one). */
static int embed_all(cvs_db *db, mem_text *x, size_t n, float *vecs, int one)
{
    const char **tx = malloc((n ? n : 1) * sizeof *tx);
    size_t *ln = malloc((n ? n : 1) * sizeof *ln);
    int rc = CVS_OK;

    if (!tx || !ln) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        tx[i] = x[i].text;
        ln[i] = x[i].len;
    }
    for (size_t c = 0; c < n; c += MEM_EMBED_CHUNK) {
        size_t k = n - c < MEM_EMBED_CHUNK ? n - c : MEM_EMBED_CHUNK;
        if (k > 1 && cvs_embed_texts(db, tx + c, ln + c, k, vecs + c * db->dim) == CVS_OK)
            continue;
        for (size_t j = c; j < c + k; j++) {
            float *v = vecs + j * db->dim;
            if ((rc = mem_embed(db, x[j].text, x[j].len, v)) == CVS_EINPUT) {
                x[j].noembed = 1;
                rc = cvs__embed_standin(db, v);
            }
            if (rc) {
                if (!one)
                    cvs__err_prefix(rc, "text %zu", j);
                goto cleanup;
            }
        }
    }
cleanup:
    free(tx);
    free(ln);
    return rc;
}

/* Applies plan p of text x (vector vec) to the view: what one
 * cvs_mem_remember would write, laid over the snapshot instead. */
static int remember_step(mem_view *v, const char *ns, const mem_text *x, const float *vec,
                         json_t *user, const cvs_mem_remember_opts *o, const plan *p,
                         cvs_mem_remembered *out)
{
    const size_t vb = (size_t)v->t->db->dim * sizeof *vec;
    view_rec *mine = NULL, *sup = NULL, *pr = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (p->dup >= 0) {
        view_rec *r = view_find(v, p->dup);
        const char *id = r ? r->m.id : NULL;
        size_t il = r ? r->m.id_len : 0;
        if (!r && (rc = cvs_key_id(v->t, p->dup, &id, &il)))
            return rc;
        memcpy(out->id, id, il);
        out->id[il] = 0;
        out->outcome = CVS_MEM_DUPLICATE;
        return CVS_OK;
    }
    if (p->near >= 0) {
        /* Update in place: new wording and vector, metadata merged, links
         * added; id, creation time and the rest stay. */
        char *nt = memdup0(x->text, x->len);
        if (!nt || (rc = view_load(v, p->near, &mine))) {
            free(nt);
            return nt ? rc : cvs__err(CVS_ENOMEM, "out of memory");
        }
        free(mine->m.text);
        mine->m.text = nt;
        mine->m.text_len = x->len;
        memcpy(mine->m.vec, vec, vb);
        if (json_object_update(mine->m.meta, user) ||
            json_object_set_new(mine->m.meta, "_hash", json_string(x->hash)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        out->outcome = CVS_MEM_MERGED;
        out->similarity = p->near_sim;
    } else {
        unsigned char rnd[MEM_ID_HEX / 2];
        char hex[MEM_ID_HEX + 1];
        mem_rec *m;
        if (sodium_init() < 0)
            return cvs__err(CVS_EINTERNAL, "libsodium failed to initialize");
        if ((rc = view_add(v, MEM_NEW_KEY + (int64_t)v->nnew, &mine)))
            return rc;
        v->nnew++;
        m = &mine->m;
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        m->id_len = strlen(MEM_ID_PREFIX) + MEM_ID_HEX;
        if (!(m->id = malloc(m->id_len + 1)) || !(m->text = memdup0(x->text, x->len)) ||
            !(m->vec = malloc(vb)) || !(m->meta = json_deep_copy(user)) ||
            json_object_set_new(m->meta, "_ns", json_string(ns)) ||
            json_object_set_new(m->meta, "_hash", json_string(x->hash)) ||
            (x->noembed && json_object_set_new(m->meta, "_noembed", json_true())) ||
            (o && o->conversation &&
             (json_object_set_new(m->meta, "_conv", json_string(o->conversation)) ||
              json_object_set_new(m->meta, "_seq", json_integer(p->seq)))))
            return cvs__err(CVS_ENOMEM, "out of memory");
        snprintf(m->id, m->id_len + 1, "%s%s", MEM_ID_PREFIX, hex);
        m->text_len = x->len;
        memcpy(m->vec, vec, vb);
        out->outcome = CVS_MEM_ADDED;
        if (p->revision >= 0)
            out->similarity = p->near_sim;
    }
    for (size_t i = 0; o && i < o->nlinks; i++)
        if (!mem_rec_has_link(&mine->m, o->links[i].id, o->links[i].id_len, o->links[i].type) &&
            (rc = mem_rec_add_link(&mine->m, o->links[i].id, o->links[i].id_len,
                                   o->links[i].type, o->links[i].weight)))
            return rc;
    if (p->superseded >= 0) {
        if ((rc = view_load(v, p->superseded, &sup)))
            return rc;
        if (!mem_rec_has_link(&mine->m, sup->m.id, sup->m.id_len, "supersedes") &&
            (rc = mem_rec_add_link(&mine->m, sup->m.id, sup->m.id_len, "supersedes", 1.0f)))
            return rc;
        if (json_object_set_new(sup->m.meta, "_superseded_by",
                                json_stringn(mine->m.id, mine->m.id_len)))
            return cvs__err(CVS_ENOMEM, "out of memory");
        memcpy(out->superseded, sup->m.id, sup->m.id_len);
    }
    /* The conversation's last memory may be the one superseded: then both
     * changes go to the one entry. */
    if (p->prev >= 0 &&
        ((rc = view_load(v, p->prev, &pr)) ||
         (rc = mem_rec_add_link(&mine->m, pr->m.id, pr->m.id_len, "prev", 1.0f)) ||
         (rc = mem_rec_add_link(&pr->m, mine->m.id, mine->m.id_len, "next", 1.0f))))
        return rc;
    memcpy(out->id, mine->m.id, mine->m.id_len);
    out->id[mine->m.id_len] = 0;
    /* What the next text reads of them is what the store would give back. */
    if ((rc = view_stored(v, mine)) || (sup && (rc = view_stored(v, sup))) ||
        (pr && (rc = view_stored(v, pr))))
        return rc;
    return CVS_OK;
}

/* cvs_mem_remember (one: a single text, whose messages name no index) and
 * cvs_mem_remember_many. */
static int remember_texts(cvs_db *db, const char *const *texts, const size_t *lens, size_t n,
                          const cvs_mem_remember_opts *o, cvs_mem_remembered *outs, int one)
{
    const char *ns = ns_or_default(o ? o->ns : NULL);
    const float thr = o && o->near_dup > 0 ? o->near_dup : CVS_MEM_NEAR_DUP;
    mem_text *x = NULL;
    float *vecs = NULL;
    json_t *user = NULL;
    cvs_filter *f = NULL;
    mem_view v = {0};
    mem_rec **ms = NULL;
    uint64_t snap;
    size_t i = 0;
    int rc = CVS_OK;

    if (!db || (n && (!texts || !outs)))
        return cvs__err(CVS_EINVAL, "%s: NULL argument",
                        one ? "cvs_mem_remember" : "cvs_mem_remember_many");
    if (n > CVS_MEM_REMEMBER_MAX) /* deviation 8 */
        return cvs__err(CVS_EINVAL, "cvs_mem_remember_many: %zu texts, over the limit of "
                        "CVS_MEM_REMEMBER_MAX (%d) in one call (planning a batch costs the "
                        "square of its size): remember them in calls of at most %d", n,
                        CVS_MEM_REMEMBER_MAX, CVS_MEM_REMEMBER_MAX);
    if (n)
        memset(outs, 0, n * sizeof *outs);
    if (!(x = calloc(n ? n : 1, sizeof *x)))
        return cvs__err(CVS_ENOMEM, "out of memory");
    /* Every text is checked before anything is embedded or written. */
    for (i = 0; i < n; i++) {
        if (!texts[i]) {
            rc = cvs__err(CVS_EINVAL, "cvs_mem_remember_many: text %zu is NULL", i);
            goto cleanup;
        }
        x[i].text = texts[i];
        x[i].len = lens ? lens[i] : 0;
        if ((rc = check_text(&x[i], o)))
            goto named;
    }
    if ((rc = check_ns_write(ns)))
        goto cleanup;
    if (o && o->conversation && (!*o->conversation || strlen(o->conversation) > CVS_MAX_ID_LEN)) {
        rc = cvs__err(CVS_EINPUT, "conversation id must have 1..%d bytes", CVS_MAX_ID_LEN);
        goto cleanup;
    }
    if ((rc = user_meta(o, &user)) || n == 0)
        goto cleanup;
    for (i = 0; i < n; i++)
        content_hash(ns, x[i].text, x[i].len, x[i].hash);
    if (!(vecs = malloc(n * db->dim * sizeof *vecs)) || !(ms = malloc(n * 3 * sizeof *ms))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = embed_all(db, x, n, vecs, one)) || (rc = ns_filter(ns, NULL, 0, &f)))
        goto cleanup;
    for (int tries = 1;; tries++) {
        if ((rc = cvs_txn_begin(db, &v.t)))
            goto cleanup;
        snap = v.t->txnid;
        for (i = 0; i < n; i++) {
            plan p;
            if ((rc = make_plan(&v, ns, f, x[i].text, x[i].len, x[i].hash, vecs + i * db->dim,
                                user, o, x[i].noembed ? 2.0f : thr, &p)) ||
                (rc = remember_step(&v, ns, &x[i], vecs + i * db->dim, user, o, &p, &outs[i])))
                goto named;
        }
        cvs_txn_end(v.t);
        v.t = NULL;
        if (v.n == 0)
            break; /* duplicates only: nothing to write */
        for (i = 0; i < v.n; i++)
            ms[i] = &v.w[i]->m;
        rc = mem_recs_put(db, ms, v.n, tries < MEM_PLAN_TRIES ? &snap : NULL);
        if (rc != CVS__STALE)
            break;
        /* Deviation 6: another writer came between; decide again. */
        view_clear(&v);
        memset(outs, 0, n * sizeof *outs);
    }
    goto cleanup;
named:
    if (!one)
        cvs__err_prefix(rc, "text %zu", i);
cleanup:
    if (rc && n)
        memset(outs, 0, n * sizeof *outs);
    cvs_txn_end(v.t);
    view_clear(&v);
    cvs_filter_free(f);
    json_decref(user);
    free(ms);
    free(vecs);
    free(x);
    return rc;
}

CVS_API int cvs_mem_remember(cvs_db *db, const char *text, size_t len,
                             const cvs_mem_remember_opts *o, cvs_mem_remembered *out)
{
    if (!db || !text || !out)
        return cvs__err(CVS_EINVAL, "cvs_mem_remember: NULL argument");
    return remember_texts(db, &text, &len, 1, o, out, 1);
}

CVS_API int cvs_mem_remember_many(cvs_db *db, const char *const *texts, const size_t *lens,
                                  size_t n, const cvs_mem_remember_opts *o,
                                  cvs_mem_remembered *outs)
{
    return remember_texts(db, texts, lens, n, o, outs, 0);
}

/* ==== Results ==== */

/* Everything a cvs_mem_items holds, freed at once. */
typedef struct items_arena {
    void **p;
    size_t n, cap;
    size_t citems;
} items_arena;

CVS_API void cvs_mem_items_free(cvs_mem_items *r)
{
    items_arena *a;
    if (!r)
        return;
    if ((a = r->priv_)) {
        for (size_t i = 0; i < a->n; i++)
            free(a->p[i]);
        free(a->p);
        free(a);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void *arena_keep(cvs_mem_items *r, void *p)
{
    items_arena *a = r->priv_;
    if (!p)
        return NULL;
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 32;
        void **q = realloc(a->p, c * sizeof *q);
        if (!q) {
            free(p);
            return NULL;
        }
        a->p = q;
        a->cap = c;
    }
    return a->p[a->n++] = p;
}

static char *arena_str(cvs_mem_items *r, const char *s, size_t n)
{
    return s ? arena_keep(r, memdup0(s, n)) : NULL;
}

static int items_init(cvs_mem_items *r)
{
    memset(r, 0, sizeof *r);
    if (!(r->priv_ = calloc(1, sizeof(items_arena))))
        return cvs__err(CVS_ENOMEM, "out of memory");
    return CVS_OK;
}

/* Appends the memory with key k (its record read from t) to r. */
/* text (text_len bytes), when not NULL, replaces the memory's stored text
 * (recall of unit sentence: its chosen sentences). */
static int items_add(cvs_mem_items *r, cvs_txn *t, int64_t key, float score,
                     const cvs_context_step *via, size_t npath, const char *text,
                     size_t text_len)
{
    items_arena *a = r->priv_;
    cvs_record rec;
    json_t *m = NULL, *user = NULL;
    char *utxt = NULL;
    cvs_mem_item *it;
    const char *s;
    int rc;

    if (r->n == a->citems) {
        size_t c = a->citems ? a->citems * 2 : 16;
        cvs_mem_item *q = realloc(r->items, c * sizeof *q);
        if (!q)
            return cvs__err(CVS_ENOMEM, "out of memory");
        r->items = q;
        a->citems = c;
    }
    if ((rc = cvs_get_key(t, key, &rec, NULL)) || (rc = meta_of(&rec, &m)))
        return rc;
    if (text) {
        rec.text = text;
        rec.text_len = text_len;
    }
    it = &r->items[r->n];
    memset(it, 0, sizeof *it);
    rc = cvs__err(CVS_ENOMEM, "out of memory");
    if (!(user = json_object()))
        goto cleanup;
    {
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v) {
            if (k[0] != '_' && json_object_set(user, k, v))
                goto cleanup;
        }
    }
    if (!(utxt = json_dumps(user, JSON_COMPACT | JSON_REAL_PRECISION(17))))
        goto cleanup;
    it->id_len = rec.id_len;
    it->text_len = rec.text ? rec.text_len : 0;
    s = meta_str(m, "_ns");
    if (!s)
        s = "";
    if (!(it->id = arena_str(r, rec.id, rec.id_len)) ||
        !(it->text = arena_str(r, rec.text ? rec.text : "", it->text_len)) ||
        !(it->meta = arena_str(r, utxt, strlen(utxt))) || !(it->ns = arena_str(r, s, strlen(s))))
        goto cleanup;
    if ((s = meta_str(m, "_conv")) && !(it->conversation = arena_str(r, s, strlen(s))))
        goto cleanup;
    if ((s = meta_str(m, "_superseded_by"))) {
        /* Only while the superseding memory exists: forget does not clean
         * the member up, so a forgotten one stops counting here. */
        cvs_record sr;
        int grc = cvs_get(t, s, strlen(s), &sr, NULL);
        if (grc && grc != CVS_NOTFOUND) {
            rc = grc;
            goto cleanup;
        }
        if (grc == CVS_OK && !(it->superseded_by = arena_str(r, s, strlen(s))))
            goto cleanup;
    }
    for (size_t i = 0; i < rec.nlinks; i++)
        if (rec.links[i].type && !strcmp(rec.links[i].type, "supersedes") &&
            !(it->supersedes = arena_str(r, rec.links[i].id, rec.links[i].id_len)))
            goto cleanup;
    if (npath) {
        const char **pp = arena_keep(r, malloc(npath * sizeof *pp));
        const char **pt = arena_keep(r, malloc(npath * sizeof *pt));
        if (!pp || !pt)
            goto cleanup;
        for (size_t i = 0; i < npath; i++)
            if (!(pp[i] = arena_str(r, via[i].id, via[i].id_len)) ||
                !(pt[i] = arena_str(r, via[i].type, strlen(via[i].type))))
                goto cleanup;
        it->path = pp;
        it->path_types = pt;
        it->npath = npath;
    }
    it->created_us = rec.created_us;
    it->recalled_us = json_integer_value(json_object_get(m, "_recalled"));
    it->score = score;
    it->tokens = tokens_of((rec.title ? rec.title_len : 0) + it->text_len);
    r->tokens += it->tokens;
    r->n++;
    rc = CVS_OK;
cleanup:
    free(utxt);
    json_decref(user);
    json_decref(m);
    return rc;
}

/* ==== Recall ==== */

CVS_API int cvs_mem_strategy_parse(const char *s, cvs_mem_strategy *out)
{
    if (!s || !out)
        return cvs__err(CVS_EINVAL, "cvs_mem_strategy_parse: NULL argument");
    if (!strcmp(s, "hybrid"))
        *out = CVS_MEM_HYBRID;
    else if (!strcmp(s, "lexical") || !strcmp(s, "bm25"))
        *out = CVS_MEM_LEXICAL;
    else if (!strcmp(s, "vector"))
        *out = CVS_MEM_VECTOR;
    else
        return cvs__err(CVS_EINVAL, "unknown strategy '%s' (hybrid, lexical or vector)", s);
    return CVS_OK;
}

/* Appends n bytes of s and a space to the growing buffer *b. */
static int buf_word(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 2 > *cap) {
        size_t c = (*len + n + 2) * 2;
        char *p = realloc(*b, c);
        if (!p)
            return cvs__err(CVS_ENOMEM, "out of memory");
        *b = p;
        *cap = c;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[(*len)++] = ' ';
    (*b)[*len] = 0;
    return CVS_OK;
}

/* One word of the question with the forms a memory may carry it in: as
 * asked, its other number (rule 7), its stand-in (rule 9); for rule 10. */
typedef struct concept {
    char form[4][CVS_TOKEN_MAX + 4];
    size_t len[4];
    size_t n;
    double weight;      /* BM25's idf of its commonest form in the store
                           (the lowest); 0 when no memory has any form */
    double soft_weight; /* rule 11: weight, or for a word no memory has
                           in any form, BM25's idf of an unseen term */
    int soft;           /* rule 11: 1 when it has a GloVe vector and is
                           no name or number */
} concept;

/* A candidate's soft coverage (rule 11), kept by key for recall_weigh. */
typedef struct key_soft {
    int64_t key;
    double soft;
} key_soft;

/* A candidate's evidence under rule 12, kept by key for recall_relevance. */
typedef struct key_lead {
    int64_t key;
    double cos;   /* to the question */
    double cov;   /* rule 10's share of the question's word weight */
    size_t names; /* rule 8's names of the question it holds that lead */
    double whole; /* rule 18: the share of the question's names it holds
                   * that the encoder reads as one piece */
} key_lead;

/* Rule 14's evidence of a candidate: its cosine, plus rule 10's share and
 * rule 18's share of the names the encoder reads whole, scaled to the
 * spread of the cosines (rules 12 and 15), so the words break only near
 * ties on the encoder's own scale. */
static double lead_evidence(const key_lead *l, double spread)
{
    return l->cos + spread * (l->cov + l->whole);
}

/* Rule 19: a superseded candidate and the newest live memory that
 * replaced it (-1 when that one is outside the recall's scope), with the
 * relevance it had before supersession weighed; or a replacement and its
 * relevance once settled (by = its own key). */
typedef struct key_sup {
    int64_t key;
    int64_t by;
    double rel;
} key_sup;

/* What recall's weighing of candidates needs (recall_weigh). */
typedef struct recall_weights {
    double half_life_s;
    int64_t now;
    wordset names;      /* the question's names and numbers (rule 8) */
    unsigned char *whole; /* rule 18: per name, read as one piece by the encoder */
    double name_factor; /* per name a memory contains */
    concept *cs;        /* the question's words (rule 10); NULL: rule off */
    size_t ncs;
    double cs_total;    /* sum of their weights */
    /* Rule 11 (recall_pool): */
    const cvs_sif *sif; /* NULL: rule off */
    const float *pc;    /* the embedder's common component, or NULL */
    float *cvec;        /* ncs unit vectors of the question's words */
    double soft_total;  /* sum of their soft weights */
    key_soft *pool;     /* the candidates' soft coverage, by key */
    size_t npool;
    /* Rule 12 (recall_lead_pool, recall_relevance): */
    int leads;          /* the vector ranking leads */
    const float *qv;    /* the question's embedding */
    uint32_t dim;
    key_lead *lead;     /* the candidates' evidence, by key */
    size_t nlead;
    double best, spread; /* the candidates' best evidence (rule 14), the cosines' spread */
    /* Rule 15: the memories recall may return, whose cosines give the spread */
    const uint64_t *scope, *deny;
    size_t scope_nwords, deny_nwords;
    uint64_t nscope;
    /* Rule 19 (recall_settle, replaced_first): */
    key_sup *sup;       /* the superseded candidates, by key */
    size_t nsup;
    key_sup *repl;      /* their replacements (key) and relevance, by key */
    size_t nrepl;
    cvs_context_join *join; /* replacements that were no candidates */
    size_t njoin;
    int64_t *marked;    /* candidates with "_superseded_by" (recall_weigh) */
    size_t nmarked, cmarked;
} recall_weights;

/* The names and numbers of a question (rule 8 of the essay), as a word
 * set: the words that carry a capital letter other than a sentence's
 * first ("Priya", "CI", "iOS", "Slack"), and the words with a digit
 * ("443", "v2").  A word that opens a sentence is capitalised by
 * grammar, not because it names something, so it does not count. */
static int question_names(const char *q, size_t len, wordset *out)
{
    char *b = NULL;
    size_t bl = 0, cap = 0, i = 0;
    int rc = CVS_OK, opens = 1;
    while (i < len && !rc) {
        unsigned char c = (unsigned char)q[i];
        if (!cvs__word_byte(c)) {
            if (c == '.' || c == '?' || c == '!' || c == ':' || c == ';' || c == '\n')
                opens = 1;
            i++;
            continue;
        }
        size_t st = i;
        int upper = 0, digit = 0;
        while (i < len) {
            c = (unsigned char)q[i];
            if (!(cvs__word_byte(c) || c == '\''))
                break;
            upper |= c >= 'A' && c <= 'Z' && !(opens && i == st);
            digit |= c >= '0' && c <= '9';
            i++;
        }
        if (upper || digit)
            rc = buf_word(&b, &bl, &cap, q + st, i - st);
        opens = 0;
    }
    if (!rc)
        rc = wordset_make(b ? b : "", bl, out);
    free(b);
    return rc;
}

/* How many of the question's names the memory's words (ws) contain.
 * With no_digit a lone digit ("3" of "at 3 pm") is not one: it counts or
 * tells an hour, and names nothing (rule 13). */
static size_t names_in(const wordset *names, const wordset *ws, int no_digit)
{
    size_t m = 0;
    for (size_t i = 0; i < names->n; i++) {
        const char *n = names->w[i];
        if (no_digit && n[0] >= '0' && n[0] <= '9' && !n[1])
            continue;
        m += bsearch(&names->w[i], ws->w, ws->n, sizeof *ws->w, cmp_word) != NULL;
    }
    return m;
}

/* Rules 12, 13 and 18: of the question's names (no lone digit) that the
 * memory's words (ws) hold, the number that come first (*first: those the
 * encoder reads in pieces) and the share of all of them held that it reads
 * as one piece (*whole, in [0, 1]: they count within the spread). */
static void lead_names(const recall_weights *w, const wordset *ws, size_t *first, double *whole)
{
    size_t all = 0, in_whole = 0;
    *first = 0;
    *whole = 0;
    for (size_t i = 0; i < w->names.n; i++) {
        const char *n = w->names.w[i];
        if (n[0] >= '0' && n[0] <= '9' && !n[1])
            continue;
        all++;
        if (!bsearch(&w->names.w[i], ws->w, ws->n, sizeof *ws->w, cmp_word))
            continue;
        if (w->whole && w->whole[i])
            in_whole++;
        else
            (*first)++;
    }
    if (all)
        *whole = (double)in_whole / (double)all;
}

/* The share of the question's word weight that the memory's words (ws)
 * carry, in [0, 1] (rule 10). */
static double coverage(const recall_weights *w, const wordset *ws)
{
    double got = 0;
    for (size_t i = 0; i < w->ncs; i++) {
        int has = 0;
        for (size_t f = 0; f < w->cs[i].n && !has; f++) {
            const char *k = w->cs[i].form[f];
            has = bsearch(&k, ws->w, ws->n, sizeof *ws->w, cmp_word) != NULL;
        }
        got += has ? w->cs[i].weight : 0;
    }
    return got / w->cs_total;
}

/* 1 when the memory's words (ws) hold one of concept c's forms. */
static int has_form(const concept *c, const wordset *ws)
{
    for (size_t f = 0; f < c->n; f++) {
        const char *k = c->form[f];
        if (bsearch(&k, ws->w, ws->n, sizeof *ws->w, cmp_word))
            return 1;
    }
    return 0;
}

/* The unit vector of GloVe word x with the embedder's common component
 * pc (NULL: none) removed, into out; CVS_NOTFOUND when it has none. */
static int word_unit(const cvs_sif *sif, const float *pc, long x, float *out)
{
    uint32_t dim = cvs__sif_dim(sif);
    double d = 0, q = 0;
    int rc = cvs__sif_unit(sif, x, out);
    if (rc || !pc)
        return rc;
    for (uint32_t k = 0; k < dim; k++)
        d += (double)out[k] * pc[k];
    for (uint32_t k = 0; k < dim; k++) {
        out[k] -= (float)(d * pc[k]);
        q += (double)out[k] * out[k];
    }
    if (!(q > 0))
        return CVS_NOTFOUND;
    q = 1.0 / sqrt(q);
    for (uint32_t k = 0; k < dim; k++)
        out[k] = (float)(out[k] * q);
    return CVS_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_key_soft(const void *a, const void *b)
{
    int64_t x = ((const key_soft *)a)->key, y = ((const key_soft *)b)->key;
    return (x > y) - (x < y);
}

static int cmp_key_lead(const void *a, const void *b)
{
    int64_t x = ((const key_lead *)a)->key, y = ((const key_lead *)b)->key;
    return (x > y) - (x < y);
}

/* Rule 15: the spread (standard deviation) of the question's cosines to
 * the memories recall may return (w->scope, less w->deny's stand-in
 * vectors), at most MEM_SCALE_SAMPLE of them, evenly spaced in key order,
 * into *spread; v is a buffer of w->dim floats.  0 when fewer than two.
 * Each is a stored vector read (and decrypted) every recall: about a hundred
 * give the scale as well as several hundred, for a third of the cost
 * (rule 15; see there for why not fewer). */
static int scope_spread(const recall_weights *w, cvs_txn *t, float *v, double *spread)
{
    uint64_t stride = w->nscope / MEM_SCALE_SAMPLE + 1, seen = 0;
    double sum = 0, sq = 0, m = 0;
    *spread = 0;
    for (int64_t k = (int64_t)w->scope_nwords * 64;
         (k = bits_prev(w->scope, w->scope_nwords, k)) >= 0;) {
        cvs_record rec;
        int rc;
        if (w->deny && (size_t)(k >> 6) < w->deny_nwords && (w->deny[k >> 6] >> (k & 63)) & 1)
            continue;
        if (seen++ % stride)
            continue;
        if ((rc = cvs_get_key(t, k, &rec, v)))
            return rc;
        double c = cosine(w->qv, v, w->dim);
        sum += c;
        sq += c * c;
        m++;
    }
    if (m > 1 && sq / m - (sum / m) * (sum / m) > 0)
        *spread = sqrt(sq / m - (sum / m) * (sum / m));
    return CVS_OK;
}

/* Rule 12: each of the n candidates' cosine to the question (from its
 * stored vector), rule 8's names (without lone digits, rule 13) and rule
 * 10's share, into w->lead for recall_relevance, with the cosines' spread
 * over the memories in scope (rule 15) and the best evidence, cosine +
 * spread x share (rule 14). */
static int recall_lead_pool(recall_weights *w, cvs_txn *t, const int64_t *keys, size_t n)
{
    float *v = NULL;
    int rc = CVS_OK;
    if (!(v = malloc(w->dim * sizeof *v)) || !(w->lead = calloc(n, sizeof *w->lead))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        key_lead *l = &w->lead[i];
        cvs_record rec;
        wordset ws = {0};
        l->key = keys[i];
        if ((rc = cvs_get_key(t, keys[i], &rec, v)))
            break;
        /* No candidate here holds a stand-in vector (meta "_noembed", whose
         * cosine would say nothing of its text): rule 12 runs only with a
         * trained encoder (`use`, `minilm`), and cvs_mem_remember stores a
         * stand-in only when the embedder refuses the text (CVS_EINPUT),
         * which they do for a text without a piece, that is of white space
         * (or control characters) only, and such a text has no words and is
         * refused before (every character that cvs_text_words reads as a
         * word has a piece: test_use.c and test_minilm.c,
         * every_word_has_a_piece).  An import may carry the flag over
         * from another store's export, but its vector is then the text's
         * own embedding (or the file's), whose cosine is meaningful. */
        l->cos = cosine(w->qv, v, w->dim);
        if (rec.text && rec.text_len && (rc = wordset_make(rec.text, rec.text_len, &ws)) == CVS_OK) {
            lead_names(w, &ws, &l->names, &l->whole);
            l->cov = w->cs_total > 0 ? coverage(w, &ws) : 0;
        }
        wordset_free(&ws);
    }
    if (rc || (rc = scope_spread(w, t, v, &w->spread)))
        goto out;
    w->best = -2;
    for (size_t i = 0; i < n; i++)
        if (lead_evidence(&w->lead[i], w->spread) > w->best)
            w->best = lead_evidence(&w->lead[i], w->spread);
    qsort(w->lead, n, sizeof *w->lead, cmp_key_lead);
    w->nlead = n;
out:
    free(v);
    return rc;
}

/* Rule 11: the soft coverage of the question's words by each of the n
 * candidates (a cvs_context_scope's weigh_pool), into w->pool for
 * recall_weigh.  A word's match in a memory is 1 when the memory has one
 * of its forms, else its best cosine to one of the memory's words (their
 * vectors without the embedder's common component); it counts by what it
 * is above the median match of the same word among the candidates, scaled
 * so that a form of the word still counts 1. */
static int recall_pool(void *ctx, cvs_txn *t, const int64_t *keys, size_t n)
{
    recall_weights *w = ctx;
    uint32_t dim;
    double *sim = NULL, *col = NULL;
    float *u = NULL;
    int rc = CVS_OK;
    if (w->leads)
        return n ? recall_lead_pool(w, t, keys, n) : CVS_OK;
    if (!w->sif || !w->ncs || !n || !(w->soft_total > 0))
        return CVS_OK;
    dim = cvs__sif_dim(w->sif);
    if (!(sim = calloc(n * w->ncs, sizeof *sim)) || !(col = malloc(n * sizeof *col)) ||
        !(u = malloc(dim * sizeof *u)) || !(w->pool = malloc(n * sizeof *w->pool))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        double *si = sim + i * w->ncs;
        cvs_record rec;
        wordset ws = {0};
        if ((rc = cvs_get_key(t, keys[i], &rec, NULL)) || !rec.text || !rec.text_len)
            continue;
        if ((rc = wordset_make(rec.text, rec.text_len, &ws)) == CVS_OK)
            for (size_t c = 0; c < w->ncs; c++)
                si[c] = has_form(&w->cs[c], &ws) ? 1.0 : 0.0;
        for (size_t j = 0; j < ws.n && !rc; j++) {
            long x = cvs__sif_lookup(w->sif, ws.w[j], strlen(ws.w[j]));
            if (x < 0 || (rc = word_unit(w->sif, w->pc, x, u))) {
                if (rc == CVS_NOTFOUND)
                    rc = CVS_OK;
                continue;
            }
            for (size_t c = 0; c < w->ncs; c++) {
                const float *v = w->cvec + c * dim;
                double d = 0;
                if (!w->cs[c].soft || si[c] >= 1.0)
                    continue;
                for (uint32_t k = 0; k < dim; k++)
                    d += (double)u[k] * v[k];
                if (d > si[c])
                    si[c] = d;
            }
        }
        wordset_free(&ws);
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++) {
        w->pool[i].key = keys[i];
        w->pool[i].soft = 0;
    }
    for (size_t c = 0; c < w->ncs; c++) {
        double base;
        for (size_t i = 0; i < n; i++)
            col[i] = sim[i * w->ncs + c];
        qsort(col, n, sizeof *col, cmp_double);
        /* a word that most candidates hold is no evidence for any */
        if ((base = col[(n - 1) / 2]) >= 1.0)
            continue;
        for (size_t i = 0; i < n; i++) {
            double m = sim[i * w->ncs + c];
            if (m > base)
                w->pool[i].soft += w->cs[c].soft_weight * (m - base) / (1.0 - base);
        }
    }
    for (size_t i = 0; i < n; i++)
        w->pool[i].soft /= w->soft_total;
    qsort(w->pool, n, sizeof *w->pool, cmp_key_soft);
    w->npool = n;
out:
    free(sim);
    free(col);
    free(u);
    return rc;
}

/* Rule 12: a candidate's relevance when the vector ranking leads (a
 * cvs_context_scope's relevance): its cosine to the question, to which
 * rule 10's share adds at most the spread of the candidates' cosines,
 * measured from the best candidate's in spreads (rule 14: exp of the
 * difference, 1 for the best, 1/e one spread below); and one more for
 * each of the question's names it holds (rule 8: names first, by the
 * rest among equals; rule 13: a lone digit is not a name; rule 18: a name
 * the encoder reads as one piece counts within the spread instead).  The fused
 * score (*rel on entry) is not used: the encoder's cosine replaces its
 * ranks. */
static int recall_relevance(void *ctx, cvs_txn *t, int64_t key, double *rel)
{
    const recall_weights *w = ctx;
    key_lead kk = {.key = key};
    const key_lead *l;
    (void)t;
    if (!w->nlead || !(l = bsearch(&kk, w->lead, w->nlead, sizeof *w->lead, cmp_key_lead)))
        return CVS_OK;
    double x = lead_evidence(l, w->spread);
    *rel = (double)l->names + (w->spread > 0 ? exp((x - w->best) / w->spread) : x >= w->best);
    return CVS_OK;
}

/* Supersession and recency, as factors of a candidate's relevance (a
 * cvs_context_scope's weigh). */
static int recall_weigh(void *ctx, cvs_txn *t, int64_t key, double *factor)
{
    recall_weights *w = ctx;
    cvs_record rec;
    json_t *m;
    int rc;
    if ((rc = cvs_get_key(t, key, &rec, NULL)) || (rc = meta_of(&rec, &m)))
        return rc;
    /* Supersession is weighed by recall_settle (rule 19), which sees the
     * replacement too; it reads only the candidates noted here, so that a
     * recall touching no superseded memory parses no metadata twice. */
    if (meta_str(m, "_superseded_by") &&
        (rc = cvs__grow((void **)&w->marked, &w->cmarked, w->nmarked + 1, sizeof *w->marked,
                        "out of memory")) == CVS_OK)
        w->marked[w->nmarked++] = key;
    if (rc == CVS_OK && !w->leads && (w->names.n || w->cs_total > 0 || w->npool) && rec.text &&
        rec.text_len) {
        wordset ws = {0};
        if ((rc = wordset_make(rec.text, rec.text_len, &ws)) == CVS_OK) {
            *factor *= pow(w->name_factor, (double)names_in(&w->names, &ws, 0));
            if (w->npool) {
                /* rule 11 in place of rule 10 */
                key_soft kk = {.key = key};
                const key_soft *p = bsearch(&kk, w->pool, w->npool, sizeof *w->pool,
                                            cmp_key_soft);
                *factor *= 1.0 + (p ? p->soft : 0);
            } else if (w->cs_total > 0) {
                *factor *= 1.0 + coverage(w, &ws);
            }
        }
        wordset_free(&ws);
    }
    if (w->half_life_s > 0) {
        int64_t last = json_integer_value(json_object_get(m, "_recalled"));
        if (last < rec.created_us)
            last = rec.created_us;
        double age = last < w->now ? (double)(w->now - last) / 1e6 : 0;
        *factor *= pow(0.5, age / w->half_life_s);
    }
    json_decref(m);
    return rc;
}

/* The other English inflection of number (and of the third person, which
 * is spelled the same) of token t (n bytes) into forms (at most 2, each
 * at most CVS_TOKEN_MAX + 3 bytes), their lengths into lens; returns how
 * many (rule 7): "taxes" -> "taxe", "tax"; "live" -> "lives"; "cities" ->
 * "city".  Numbers and words of fewer than 3 letters have none ("ci" is
 * not a plural of anything). */
static size_t other_number(const char *t, size_t n, char forms[2][CVS_TOKEN_MAX + 4],
                           size_t lens[2])
{
    char *w = forms[0];
    if (n < 3 || n > CVS_TOKEN_MAX || (t[n - 1] >= '0' && t[n - 1] <= '9'))
        return 0;
    if (t[n - 1] == 's' && t[n - 2] != 's') {
        /* a plural or a third person: the bare form, and for "-ies" and
         * "-es" after a sibilant the one that drops more */
        if (n > 4 && !memcmp(t + n - 3, "ies", 3)) {
            memcpy(w, t, n - 3);
            w[n - 3] = 'y';
            lens[0] = n - 2;
            return 1;
        }
        memcpy(w, t, n - 1);
        lens[0] = n - 1;
        if (n > 4 && t[n - 2] == 'e' &&
            (t[n - 3] == 's' || t[n - 3] == 'x' || t[n - 3] == 'z' ||
             (t[n - 3] == 'h' && (t[n - 4] == 'c' || t[n - 4] == 's')))) {
            memcpy(forms[1], t, n - 2);
            lens[1] = n - 2;
            return 2;
        }
        return 1;
    }
    memcpy(w, t, n);
    if (t[n - 1] == 'y' && !strchr("aeiou", t[n - 2])) {
        memcpy(w + n - 1, "ies", 3);
        n += 2;
    } else if (t[n - 1] == 's' || t[n - 1] == 'x' || t[n - 1] == 'z' ||
               (t[n - 1] == 'h' && (t[n - 2] == 'c' || t[n - 2] == 's'))) {
        memcpy(w + n, "es", 2);
        n += 2;
    } else {
        w[n++] = 's';
    }
    lens[0] = n;
    return 1;
}

/* *yes = 1 when some record of the store has the word (one BM25 term)
 * among its terms.  BM25 has no namespaces, so a word of another
 * namespace counts too. */
static int term_present(cvs_txn *t, const char *w, size_t n, int *yes)
{
    size_t df = 0;
    int rc = cvs__bm25_df(t, w, n, &df);
    *yes = rc == CVS_OK && df > 0;
    return rc;
}

/* Rule 9: the stand-in for token w (n bytes), which no memory has: of
 * its nearest words in GloVe (among the MEM_NEAR_RANK most frequent), the
 * first that some memory has and that is a synonym (cosine at least
 * MEM_NEAR_COS) or of the same stem (at least MEM_STEM_COS), into out
 * (NUL-terminated, CVS_TOKEN_MAX + 1 bytes at most) and *out_len; 0 when
 * none is, or when w is among GloVe's MEM_NEAR_FROM most frequent words,
 * whose nearest words are other function words ("when" -> "before"). */
static int stand_in(cvs_txn *t, const cvs_sif *sif, const char *w, size_t n, char *out,
                    size_t *out_len)
{
    long x = cvs__sif_lookup(sif, w, n), idx[MEM_NEAR_TRY];
    float cos[MEM_NEAR_TRY];
    size_t m = 0;
    int rc, yes = 0;
    *out_len = 0;
    if (x < MEM_NEAR_FROM)
        return CVS_OK; /* no vector, or a frequent word */
    if ((rc = cvs__sif_neighbours(sif, x, MEM_NEAR_RANK, MEM_STEM_COS, idx, cos, MEM_NEAR_TRY,
                                  &m)))
        return rc;
    for (size_t i = 0; i < m; i++) {
        size_t l, p = 0;
        const char *u = cvs__sif_word(sif, idx[i], &l);
        while (u && p < l && p < n && u[p] == w[p])
            p++;
        /* a synonym, or a word of the same stem (all but the last 3
         * letters of the shorter shared, and at least 4) */
        if (!u || !(cos[i] >= MEM_NEAR_COS || (p >= 4 && p + 3 >= (l < n ? l : n))))
            continue;
        /* GloVe's words are lower case but not accent-stripped, and may
         * hold what the tokenizer splits ("e-mail"): only a word that is
         * one BM25 term as it stands can be asked for. */
        int plain = u && l <= CVS_TOKEN_MAX && !cvs__is_stopword(u, l);
        for (size_t j = 0; plain && j < l; j++)
            plain = (u[j] >= 'a' && u[j] <= 'z') || (u[j] >= '0' && u[j] <= '9');
        if (!plain)
            continue;
        if ((rc = term_present(t, u, l, &yes)))
            return rc;
        if (yes) {
            memcpy(out, u, l);
            out[l] = 0;
            *out_len = l;
            return CVS_OK;
        }
    }
    return CVS_OK;
}

/* The lexical query of a recall: every word of the question (BM25's
 * tokens), each followed by its other inflection of number (rule 7;
 * BM25's postings are not stemmed, text/tokenize.c, deviation 3, so the
 * query carries the forms a memory may use instead), and, for a word that
 * no memory has in either form and that is no name (rule 8's names and
 * numbers), its stand-in (rule 9; sif NULL: none).  *out is malloc'd.
 * rw (may be NULL) gets the question's words with their forms and
 * weights for rule 10. */
static int lexical_query(cvs_txn *t, const cvs_sif *sif, const wordset *names, const char *q,
                         size_t len, char **out, size_t *out_len, recall_weights *rw)
{
    cvs_tokens tok = {0};
    char *b = NULL;
    size_t bl = 0, cap = 0;
    int rc;
    *out = NULL;
    if ((rc = cvs__tokenize(q, len, CVS_TOK_STRIP_ACCENTS, &tok)))
        goto out;
    if (rw && tok.n && !(rw->cs = calloc(tok.n, sizeof *rw->cs))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < tok.n; i++) {
        concept c = {.n = 1};
        const char *w = tok.buf + tok.off[i];
        size_t n = tok.len[i];
        int present[4] = {0}, any = 0;
        memcpy(c.form[0], w, n);
        c.len[0] = n;
        c.n += other_number(w, n, c.form + 1, c.len + 1);
        for (size_t f = 0; f < c.n; f++)
            c.form[f][c.len[f]] = 0;
        for (size_t f = 0; f < c.n && (sif || rw); f++) {
            if ((rc = term_present(t, c.form[f], c.len[f], &present[f])))
                goto out;
            any |= present[f];
        }
        if (!any && sif && !(n && w[n - 1] >= '0' && w[n - 1] <= '9') &&
            !bsearch(&w, names->w, names->n, sizeof *names->w, cmp_word)) {
            if ((rc = stand_in(t, sif, w, n, c.form[c.n], &c.len[c.n])))
                goto out;
            if (c.len[c.n])
                present[c.n++] = 1;
        }
        for (size_t f = 0; f < c.n; f++)
            if ((rc = buf_word(&b, &bl, &cap, c.form[f], c.len[f])))
                goto out;
        if (rw) {
            /* the weight of the commonest form a memory has */
            for (size_t f = 0; f < c.n; f++) {
                const char *fp = c.form[f];
                double idf;
                if (!present[f])
                    continue;
                if ((rc = cvs__bm25_idf(t, &fp, &c.len[f], 1, &idf)))
                    goto out;
                if (!(c.weight > 0) || idf < c.weight)
                    c.weight = idf;
            }
            /* Rule 11's weight: the idf, or an unseen term's for a word
             * no memory has, times the embedder's own weight of the word */
            long x = sif ? cvs__sif_lookup(sif, w, n) : -1;
            c.soft = x >= 0 && !(n && w[n - 1] >= '0' && w[n - 1] <= '9') &&
                     !bsearch(&w, names->w, names->n, sizeof *names->w, cmp_word);
            c.soft_weight = c.weight;
            if (!(c.soft_weight > 0) && c.soft) {
                const char *fp = c.form[0];
                if ((rc = cvs__bm25_idf(t, &fp, &c.len[0], 1, &c.soft_weight)))
                    goto out;
            }
            if (sif)
                c.soft_weight *= cvs__sif_weight(sif, x, CVS_SIF_A);
            rw->cs[rw->ncs++] = c;
            rw->cs_total += c.weight;
        }
    }
    /* Only stop words: BM25 finds nothing either way, as before. */
    if (!b && (rc = buf_word(&b, &bl, &cap, q, len)))
        goto out;
    *out = b;
    *out_len = bl;
    b = NULL;
out:
    free(b);
    cvs__tokens_free(&tok);
    return rc;
}

/* Higher score first; ties newer (higher key) first. */
static int cmp_item_score(const void *a, const void *b)
{
    const cvs_context_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->key < y->key) - (x->key > y->key);
}

/* ==== Rule 19: a replacement before what it replaced ==== */

static int cmp_key_sup(const void *a, const void *b)
{
    int64_t x = ((const key_sup *)a)->key, y = ((const key_sup *)b)->key;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_sup_by(const void *a, const void *b)
{
    const key_sup *x = a, *y = b;
    if (x->by != y->by)
        return (x->by > y->by) - (x->by < y->by);
    return (x->key > y->key) - (x->key < y->key);
}

/* Whether memory key is superseded (*sup: its "_superseded_by" names a
 * memory that exists; forget does not clean the member up, so a forgotten
 * replacement stops counting), and the newest live memory of its chain of
 * replacements into *by (the first that is not superseded in turn; -1 when
 * it is not superseded).  The chain is followed MEM_CHAIN_MAX steps at
 * most: remember only ever supersedes an older memory, so a chain has no
 * loop, but stored metadata is not trusted to say so. */
static int newest_live(cvs_txn *t, int64_t key, int *sup, int64_t *by)
{
    cvs_record rec;
    json_t *m = NULL;
    int rc;
    *sup = 0;
    *by = -1;
    if ((rc = cvs_get_key(t, key, &rec, NULL)) || (rc = meta_of(&rec, &m)))
        return rc;
    for (int step = 0; step < MEM_CHAIN_MAX; step++) {
        const char *b = meta_str(m, "_superseded_by");
        cvs_record br;
        int grc = b ? cvs_get(t, b, strlen(b), &br, NULL) : CVS_NOTFOUND;
        if (grc == CVS_NOTFOUND)
            break;
        if (grc) {
            rc = grc;
            break;
        }
        *sup = 1;
        *by = br.key;
        json_decref(m);
        m = NULL;
        if ((rc = meta_of(&br, &m)))
            break;
    }
    json_decref(m);
    return rc;
}

/* Rule 19 (a), a cvs_context_scope's settle: each superseded candidate's
 * relevance is multiplied by CVS_MEM_SUPERSEDED_WEIGHT, and its newest live
 * replacement (in the recall's scope) gets at least the relevance the
 * superseded one then has: raised when it is a candidate, joined when it
 * is not. */
static int recall_settle(void *ctx, cvs_txn *t, const int64_t *keys, double *rel, size_t n,
                         const cvs_context_join **join, size_t *njoin)
{
    recall_weights *w = ctx;
    key_sup *cand = NULL; /* every candidate: key, index, relevance */
    size_t nsup = 0;
    int rc = CVS_OK;
    free(w->sup);
    free(w->repl);
    free(w->join);
    w->sup = w->repl = NULL;
    w->join = NULL;
    w->nsup = w->nrepl = w->njoin = 0;
    if (!(w->sup = malloc(n * sizeof *w->sup)) || !(w->repl = malloc(n * sizeof *w->repl)) ||
        !(w->join = malloc(n * sizeof *w->join)) || !(cand = malloc(n * sizeof *cand))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    if (w->nmarked > 1)
        qsort(w->marked, w->nmarked, sizeof *w->marked, cmp_i64);
    for (size_t i = 0; i < n; i++) {
        int sup = 0;
        int64_t by;
        cand[i] = (key_sup){keys[i], (int64_t)i, rel[i]};
        /* only a candidate recall_weigh saw "_superseded_by" in can be */
        if (!w->nmarked ||
            !bsearch(&keys[i], w->marked, w->nmarked, sizeof *w->marked, cmp_i64))
            continue;
        if ((rc = newest_live(t, keys[i], &sup, &by)))
            goto out;
        if (!sup)
            continue;
        if (by >= 0 && !cvs__bit_test(w->scope, w->scope_nwords, by))
            by = -1; /* filtered out: it cannot be returned */
        rel[i] *= CVS_MEM_SUPERSEDED_WEIGHT;
        w->sup[nsup++] = (key_sup){keys[i], by, rel[i]};
    }
    qsort(cand, n, sizeof *cand, cmp_key_sup);
    /* by replacement: each gets the largest relevance of those it replaced */
    qsort(w->sup, nsup, sizeof *w->sup, cmp_sup_by);
    for (size_t i = 0, j; i < nsup; i = j) {
        size_t best = i;
        for (j = i + 1; j < nsup && w->sup[j].by == w->sup[i].by; j++)
            if (w->sup[j].rel > w->sup[best].rel)
                best = j;
        if (w->sup[i].by < 0)
            continue;
        key_sup kk = {.key = w->sup[i].by};
        const key_sup *c = bsearch(&kk, cand, n, sizeof *cand, cmp_key_sup);
        double r = w->sup[best].rel;
        if (c) {
            if (rel[c->by] > r)
                r = rel[c->by];
            rel[c->by] = r;
        } else {
            w->join[w->njoin++] = (cvs_context_join){w->sup[i].by, w->sup[best].key, r,
                                                     "superseded_by"};
        }
        w->repl[w->nrepl++] = (key_sup){w->sup[i].by, w->sup[i].by, r};
    }
    w->nsup = nsup;
    qsort(w->sup, nsup, sizeof *w->sup, cmp_key_sup);
    qsort(w->repl, w->nrepl, sizeof *w->repl, cmp_key_sup);
    *join = w->join;
    *njoin = w->njoin;
out:
    free(cand);
    return rc;
}

/* Rule 19 (b): the chosen items (n of them, tokens in all, under budget
 * and k) with every superseded memory after its replacement, into *out
 * (malloc'd, *nout of them) best first.  A superseded memory chosen
 * without its replacement brings it in: beside it when both fit k and the
 * budget, else in its place when the replacement fits there, else it is
 * left out (the old value alone is the stale answer this rule is for).
 * steps (malloc'd, the caller frees it) holds the paths of the
 * replacements brought in: the superseded one's, then a "superseded_by"
 * step. */
static int replaced_first(const recall_weights *w, cvs_txn *t, const cvs_context_item *in,
                          size_t n, size_t tokens, size_t budget, size_t k,
                          cvs_context_item **out, size_t *nout, cvs_context_step **steps)
{
    cvs_context_item *it = NULL, *sorted = NULL;
    size_t m = 0, nsteps = 0, room = 0;
    unsigned char *done = NULL;
    int rc = CVS_OK;
    *out = NULL;
    *nout = 0;
    *steps = NULL;
    for (size_t i = 0; i < n; i++)
        room += (size_t)in[i].hop + 2;
    if (!(it = malloc((2 * n + 1) * sizeof *it)) || !(sorted = malloc((2 * n + 1) * sizeof *sorted)) ||
        !(done = calloc(2 * n + 1, 1)) || !(*steps = malloc((room + 1) * sizeof **steps))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(it, in, n * sizeof *it);
    m = n;
    for (size_t i = 0; i < n; i++) {
        key_sup kk = {.key = in[i].key};
        const key_sup *s = w->nsup ? bsearch(&kk, w->sup, w->nsup, sizeof *w->sup, cmp_key_sup)
                                   : NULL;
        const key_sup *r;
        size_t j, rt;
        cvs_record rec;
        if (!s || s->by < 0)
            continue;
        for (j = 0; j < m && it[j].key != s->by; j++)
            ;
        if (j < m)
            continue; /* its replacement is chosen */
        kk.key = s->by;
        r = bsearch(&kk, w->repl, w->nrepl, sizeof *w->repl, cmp_key_sup);
        if ((rc = cvs_get_key(t, s->by, &rec, NULL)))
            goto out;
        rt = cvs_tokens_estimate(rec.title ? rec.title_len : 0, rec.text ? rec.text_len : 0);
        for (j = 0; j < m && it[j].key != in[i].key; j++)
            ;
        cvs_context_item add = {.key = s->by, .id = rec.id, .id_len = rec.id_len,
                                .score = r ? (float)r->rel : it[j].score, .tokens = rt,
                                .hop = it[j].hop + 1, .via = *steps + nsteps};
        if (it[j].via)
            memcpy(*steps + nsteps, it[j].via, ((size_t)it[j].hop + 1) * sizeof **steps);
        else
            add.hop = 0;
        (*steps)[nsteps + add.hop] = (cvs_context_step){s->by, rec.id, rec.id_len,
                                                        "superseded_by"};
        nsteps += (size_t)add.hop + 1;
        if (m < k && rt <= budget && tokens + rt <= budget) {
            it[m++] = add; /* beside it */
            tokens += rt;
        } else if (rt <= budget && tokens - it[j].tokens + rt <= budget) {
            tokens += rt - it[j].tokens;
            it[j] = add; /* in its place */
        } else {
            tokens -= it[j].tokens;
            memmove(it + j, it + j + 1, (m - j - 1) * sizeof *it);
            m--; /* left out */
        }
    }
    /* Best first; a superseded memory waits for its replacement and
     * follows it (its score is at most the replacement's, and on a tie
     * the key order need not settle it rightly). */
    if (m > 1)
        qsort(it, m, sizeof *it, cmp_item_score);
    size_t ns = 0;
    for (size_t i = 0; i < m; i++) {
        if (done[i])
            continue;
        key_sup kk = {.key = it[i].key};
        const key_sup *s = w->nsup ? bsearch(&kk, w->sup, w->nsup, sizeof *w->sup, cmp_key_sup)
                                   : NULL;
        size_t j = m;
        if (s && s->by >= 0)
            for (j = i + 1; j < m && it[j].key != s->by; j++)
                ;
        if (j < m)
            continue; /* comes later, after its replacement */
        sorted[ns++] = it[i];
        done[i] = 1;
        /* the memories waiting for this one, in their order */
        for (size_t l = 0; l < i; l++) {
            if (done[l])
                continue;
            kk.key = it[l].key;
            s = bsearch(&kk, w->sup, w->nsup, sizeof *w->sup, cmp_key_sup);
            if (s && s->by == it[i].key) {
                sorted[ns++] = it[l];
                done[l] = 1;
            }
        }
    }
    *out = sorted;
    *nout = ns;
    sorted = NULL;
out:
    free(it);
    free(sorted);
    free(done);
    if (rc) {
        free(*steps);
        *steps = NULL;
    }
    return rc;
}

/* The options of the context set a recall is: the memory layer's own
 * fusion (equal-weight RRF), its links only (no kNN edges, no titles),
 * and no near-duplicate suppression, since a superseded revision is by
 * construction near its replacement and must still be seen. */
static void recall_context_opts(const cvs_mem_recall_opts *o, size_t want, int have_vec,
                                cvs_context_opts *co)
{
    cvs_context_opts_init(co);
    co->budget = o->token_budget ? o->token_budget : (size_t)1 << 40;
    co->strategy = o->selection;
    co->fusion = CVS_FUSION_RRF;
    co->rrf_k = CVS_MEM_RRF_K;
    co->lexical_weight = o->strategy == CVS_MEM_LEXICAL || !have_vec ? 1.0f
                         : o->strategy == CVS_MEM_VECTOR            ? 0.0f
                                                                    : 0.5f;
    co->title_weight = 0;
    co->depth = want;
    /* Every direct hit starts the walk and every link is followed, as
     * before recall became a context set. */
    co->seeds = want * 2;
    co->beam = want * 2;
    co->fanout = 64;
    co->hops = o->hops;
    co->use_knn = 0;
    co->dup_threshold = 2.0f;
    co->max_pool = want * 4;
    co->search_flags = CVS_SEARCH_EXACT;
    co->unit = o->unit;
}

CVS_API int cvs_mem_recall(cvs_db *db, const char *query, size_t len,
                           const cvs_mem_recall_opts *o, cvs_mem_items *out)
{
    cvs_mem_recall_opts def = {0};
    recall_weights rw = {.now = cvs__now_us()};
    cvs_context_opts co;
    cvs_context_result cr = {0};
    const char *ns;
    size_t k, want;
    cvs_txn *t = NULL;
    cvs_filter *f = NULL, *fdeny = NULL;
    uint64_t *bits = NULL, *deny = NULL, nmatch, ndeny = 0;
    size_t nwords, deny_nwords = 0;
    float *qv = NULL;
    char *lq = NULL;
    size_t lq_len = 0;
    const cvs_sif *sif = NULL;
    mem_rec *touch = NULL;
    mem_rec **tp = NULL;
    size_t ntouch = 0, nfin = 0;
    cvs_context_item *fin = NULL;
    cvs_context_step *fin_steps = NULL;
    int rc;

    if (!db || !query || !out)
        return cvs__err(CVS_EINVAL, "cvs_mem_recall: NULL argument");
    if (!o)
        o = &def;
    ns = ns_or_default(o->ns);
    k = o->k ? o->k : 10;
    rw.half_life_s = o->half_life_s;
    if (!len)
        len = strlen(query);
    if ((rc = items_init(out)))
        return rc;
    if ((rc = cvs__query_len_check("cvs_mem_recall", len)) || (rc = check_ns(ns)))
        goto cleanup;
    if (o->strategy != CVS_MEM_HYBRID && o->strategy != CVS_MEM_LEXICAL &&
        o->strategy != CVS_MEM_VECTOR) {
        rc = cvs__err(CVS_EINVAL, "unknown strategy %d", (int)o->strategy);
        goto cleanup;
    }
    if (o->selection != CVS_CONTEXT_DIVERSE && o->selection != CVS_CONTEXT_TOPK &&
        o->selection != CVS_CONTEXT_MMR) {
        rc = cvs__err(CVS_EINVAL, "recall selects by diverse, topk or mmr, not %s",
                      cvs_context_strategy_name(o->selection));
        goto cleanup;
    }
    if (o->hops < 0 || o->hops > CVS_MEM_HOPS_MAX) {
        rc = cvs__err(CVS_EINVAL, "hops %d (0 to %d)", o->hops, CVS_MEM_HOPS_MAX);
        goto cleanup;
    }
    /* Below 0 or NaN was "off" in silence; MCP refuses it, so does this. */
    if (!(o->half_life_s >= 0)) {
        rc = cvs__err(CVS_EINVAL, "half_life_s %g: 0 (off) or a positive number of seconds",
                      o->half_life_s);
        goto cleanup;
    }
    if (!cvs__utf8_valid(query, len)) {
        rc = cvs__err(CVS_EINPUT, "query is not valid UTF-8");
        goto cleanup;
    }
    {
        /* A blank query is a caller's slip (an empty variable), not a
         * question that nothing answers: said so, as cvs_context does. */
        size_t words;
        if ((rc = cvs_text_words(query, len, &words)))
            goto cleanup;
        if (!words) {
            rc = cvs__err(CVS_EINVAL, "query has no words (it is empty, or only spaces, "
                          "punctuation or symbols): give a question");
            goto cleanup;
        }
    }
    if (o->strategy != CVS_MEM_LEXICAL) {
        if (!(qv = malloc((size_t)db->dim * sizeof *qv))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto cleanup;
        }
        /* A query the embedder cannot embed has no vector ranking. */
        rc = len ? mem_embed(db, query, len, qv) : CVS_EINPUT;
        if (rc == CVS_EINPUT) {
            free(qv);
            qv = NULL;
            rc = CVS_OK;
            if (o->strategy == CVS_MEM_VECTOR)
                goto cleanup;
        } else if (rc) {
            goto cleanup;
        }
    }
    /* Rule 9 reads the embedder's word vectors: with the built-in glove,
     * in a hybrid recall whose question has a vector (so the embedder is
     * attached, and no transaction is needed to find it). */
    if (qv && o->strategy == CVS_MEM_HYBRID && (rc = cvs__embed_words(db, &sif)) == CVS_NOTFOUND)
        rc = CVS_OK;
    if (rc)
        goto cleanup;
    if (qv && o->strategy == CVS_MEM_HYBRID && (rc = cvs__embedder_trained(db, &rw.leads)))
        goto cleanup;
    rw.qv = qv;
    rw.dim = db->dim;
    if ((rc = question_names(query, len, &rw.names)))
        goto cleanup;
    if (rw.leads && rw.names.n) {
        /* Rule 18: which names the encoder reads as one piece */
        if (!(rw.whole = calloc(rw.names.n, 1))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < rw.names.n; i++) {
            size_t np = 0;
            rc = cvs__embedder_pieces(db, rw.names.w[i], strlen(rw.names.w[i]), &np);
            if (rc == CVS_NOTFOUND)
                rc = CVS_OK;
            if (rc)
                goto cleanup;
            rw.whole[i] = np == 1;
        }
    }
    if ((rc = ns_filter(ns, o->filter, o->filter_len, &f)) || (rc = cvs_txn_begin(db, &t)) ||
        (rc = cvs__filter_eval(t, f, &bits, &nwords, &nmatch)))
        goto cleanup;
    if (nmatch == 0)
        goto cleanup;
    /* Memories kept with a stand-in vector (no word the embedder knows)
     * are found by their words, never by that vector: it says nothing of
     * their text, and came back as an unrelated question's vector hit. */
    if (qv && ((rc = cvs_filter_parse("{\"_noembed\": true}", 0, &fdeny)) ||
               (rc = cvs__filter_eval(t, fdeny, &deny, &deny_nwords, &ndeny))))
        goto cleanup;
    /* No answer holds more memories than match: a k above that (10^9,
     * "all of them") asks for every match, not for pools and walks sized
     * by k that cannot be allocated. */
    if (k > nmatch)
        k = (size_t)nmatch;
    rw.scope = bits;
    rw.scope_nwords = nwords;
    rw.nscope = nmatch;
    rw.deny = ndeny ? deny : NULL;
    rw.deny_nwords = deny_nwords;
    want = k * 4 > MEM_POOL_MIN ? k * 4 : MEM_POOL_MIN;
    /* Among the seeds, fused scores lie within 1 / (k + 1) and
     * 1 / (2 (k + want)) (one ranking at half weight, at its last rank):
     * a factor of their ratio per name, times 2 for rule 10's factor
     * (1 to 2), puts a memory that names more of what the question names
     * ahead of every seed that names fewer. */
    rw.name_factor = 4.0 * (double)(CVS_MEM_RRF_K + want) / (double)(CVS_MEM_RRF_K + 1);
    recall_context_opts(o, want, qv != NULL, &co);
    {
        cvs_context_scope sc = {.filter = f, .allow = bits, .nwords = nwords,
                                .positive_vectors = 1, .vector_deny = ndeny ? deny : NULL,
                                .deny_nwords = deny_nwords, .k = k, .weigh = recall_weigh,
                                .weigh_pool = recall_pool, .settle = recall_settle,
                                .relevance = rw.leads ? recall_relevance : NULL, .ctx = &rw};
        if ((rc = lexical_query(t, sif, &rw.names, query, len, &lq, &lq_len,
                                o->strategy == CVS_MEM_HYBRID && qv ? &rw : NULL)))
            goto cleanup;
        if (sif && rw.ncs) {
            /* Rule 11: the question's word vectors */
            uint32_t dim = cvs__sif_dim(sif);
            if ((rc = cvs__embed_component(db, &rw.pc)))
                goto cleanup;
            if (!(rw.cvec = calloc(rw.ncs * dim, sizeof *rw.cvec))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto cleanup;
            }
            for (size_t i = 0; i < rw.ncs; i++) {
                concept *c = &rw.cs[i];
                if (c->soft) {
                    rc = word_unit(sif, rw.pc, cvs__sif_lookup(sif, c->form[0], c->len[0]),
                                   rw.cvec + i * dim);
                    if (rc == CVS_NOTFOUND)
                        c->soft = 0;
                    else if (rc)
                        goto cleanup;
                    rc = CVS_OK;
                }
                rw.soft_total += c->soft_weight;
            }
            rw.sif = sif;
        }
        if ((rc = cvs__txn_context_scoped(t, &co, lq, lq_len, qv, &sc, &cr)))
            goto cleanup;
    }
    /* The strategy chose them in its own order (the diverse one weighs
     * gain per token); the answer lists them best first, a superseded
     * memory after its replacement (rule 19). */
    if ((rc = replaced_first(&rw, t, cr.items, cr.n, cr.tokens, co.budget, k, &fin, &nfin,
                             &fin_steps)))
        goto cleanup;
    for (size_t i = 0; i < nfin; i++) {
        const cvs_context_item *it = &fin[i];
        if ((rc = items_add(out, t, it->key, it->score, it->via, (size_t)it->hop + 1,
                            it->sentences ? it->text : NULL, it->text_len)))
            goto cleanup;
    }
    /* Copies of what was returned, to store the recall time after the
     * snapshot ends. */
    if (!o->no_touch && out->n) {
        if (!(touch = calloc(out->n, sizeof *touch)) || !(tp = calloc(out->n, sizeof *tp))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < out->n; i++, ntouch++) {
            if ((rc = mem_rec_load(t, fin[i].key, &touch[i])))
                goto cleanup;
            if (json_object_set_new(touch[i].meta, "_recalled", json_integer(rw.now))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto cleanup;
            }
            tp[i] = &touch[i];
        }
        cvs_txn_end(t);
        t = NULL;
        /* The time is a hint for recency weighting, not part of the
         * answer: a store that cannot be written (a full disk, a read-only
         * handle) still answers, without it, and so does one that another
         * process is writing, rather than wait for it (deviation 5). */
        if (!cvs__writer_elsewhere(db))
            (void)mem_recs_put(db, tp, ntouch, NULL);
    }
cleanup:
    cvs_txn_end(t);
    for (size_t i = 0; i < ntouch; i++)
        mem_rec_clear(&touch[i]);
    free(touch);
    free(tp);
    free(fin);
    free(fin_steps);
    cvs_context_result_free(&cr);
    free(bits);
    free(deny);
    free(qv);
    free(lq);
    wordset_free(&rw.names);
    free(rw.whole);
    free(rw.cs);
    free(rw.cvec);
    free(rw.pool);
    free(rw.lead);
    free(rw.sup);
    free(rw.repl);
    free(rw.join);
    free(rw.marked);
    cvs_filter_free(f);
    cvs_filter_free(fdeny);
    if (rc)
        cvs_mem_items_free(out);
    return rc;
}

/* ==== List ==== */

CVS_API int cvs_mem_list(cvs_db *db, const char *ns, const char *cursor, size_t limit,
                         cvs_mem_items *out)
{
    cvs_txn *t = NULL;
    uint64_t *bits = NULL, nmatch;
    size_t nwords;
    int64_t k;
    int rc;

    if (!db || !out)
        return cvs__err(CVS_EINVAL, "cvs_mem_list: NULL argument");
    ns = ns_or_default(ns);
    if (!limit)
        limit = 20;
    if ((rc = items_init(out)))
        return rc;
    if ((rc = check_ns(ns)))
        goto cleanup;
    if ((rc = cvs_txn_begin(db, &t)) || (rc = eval_pair(t, ns, NULL, NULL, &bits, &nwords, &nmatch)))
        goto cleanup;
    k = (int64_t)nwords * 64;
    if (cursor && *cursor) {
        /* The cursor is the key of the last memory of the previous page. */
        char *end;
        long long c;
        errno = 0;
        c = strtoll(cursor, &end, 10);
        if (*end || c < 0 || errno || end == cursor) {
            rc = cvs__err(CVS_EINVAL, "malformed cursor '%s'", cursor);
            goto cleanup;
        }
        if (c < k)
            k = c;
    }
    while ((k = bits_prev(bits, nwords, k)) >= 0) {
        if (out->n == limit) {
            /* More remain: the next page starts at key k. */
            snprintf(out->cursor, sizeof out->cursor, "%lld", (long long)(k + 1));
            break;
        }
        if ((rc = items_add(out, t, k, 0, NULL, 0, NULL, 0)))
            goto cleanup;
    }
cleanup:
    free(bits);
    cvs_txn_end(t);
    if (rc)
        cvs_mem_items_free(out);
    return rc;
}

/* ==== Forget ==== */

CVS_API int cvs_mem_forget(cvs_db *db, const char *ns, const char *id, size_t id_len,
                           const char *filter, size_t filter_len, size_t *forgotten)
{
    cvs_txn *t = NULL;
    cvs_filter *f = NULL;
    uint64_t *bits = NULL, nmatch;
    size_t nwords, n = 0, del = 0;
    char **ids = NULL;
    size_t *lens = NULL;
    int rc;

    if (forgotten)
        *forgotten = 0;
    if (!db)
        return cvs__err(CVS_EINVAL, "cvs_mem_forget: NULL argument");
    if (!id && !filter)
        return cvs__err(CVS_EINVAL, "forget needs an id or a filter");
    ns = ns_or_default(ns);
    if ((rc = check_ns(ns)))
        return rc;
    if (id && !id_len)
        id_len = strlen(id);
    if ((rc = ns_filter(ns, filter, filter_len, &f)) || (rc = cvs_txn_begin(db, &t)) ||
        (rc = cvs__filter_eval(t, f, &bits, &nwords, &nmatch)))
        goto cleanup;
    if (id) {
        cvs_record r;
        if (!id_len || id_len > CVS_MAX_ID_LEN)
            goto cleanup;
        rc = cvs_get(t, id, id_len, &r, NULL);
        if (rc == CVS_NOTFOUND || (rc == CVS_OK && !cvs__bit_test(bits, nwords, r.key))) {
            rc = CVS_OK;
            goto cleanup;
        }
        if (rc)
            goto cleanup;
        nmatch = 1;
    }
    if (!(ids = calloc(nmatch ? nmatch : 1, sizeof *ids)) ||
        !(lens = calloc(nmatch ? nmatch : 1, sizeof *lens))) {
        rc = cvs__err(CVS_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (id) {
        if (!(ids[0] = memdup0(id, id_len))) {
            rc = cvs__err(CVS_ENOMEM, "out of memory");
            goto cleanup;
        }
        lens[n++] = id_len;
    } else {
        for (int64_t k = (int64_t)nwords * 64; (k = bits_prev(bits, nwords, k)) >= 0 && n < nmatch;) {
            const char *s;
            size_t l;
            if ((rc = cvs_key_id(t, k, &s, &l)))
                goto cleanup;
            if (!(ids[n] = memdup0(s, l))) {
                rc = cvs__err(CVS_ENOMEM, "out of memory");
                goto cleanup;
            }
            lens[n++] = l;
        }
    }
    cvs_txn_end(t);
    t = NULL;
    if (n && (rc = cvs_delete(db, (const char *const *)ids, lens, n, &del)))
        goto cleanup;
    if (forgotten)
        *forgotten = del;
cleanup:
    cvs_txn_end(t);
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
    free(lens);
    free(bits);
    cvs_filter_free(f);
    return rc;
}
