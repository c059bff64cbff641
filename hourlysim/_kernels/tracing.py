"""Stage 3 kernels: proportional flow tracing (consumption intensity, supply shares).

One per-hour core, :func:`solve_hour`, solves ``A X = B`` with
``A = diag(T) - R^T``: ``T[j]`` is the power passing through node ``j`` (its generation
plus what it receives) and ``R[i, j]`` the power that arrives at ``j`` from ``i`` (sent
times ``1 - loss``). ``B`` is the produced emissions (the consumption intensity) or
``diag(G)`` (the supply-share matrix). The power leaving a node (consumed there or sent on)
carries one mix, that of its own generation and its arrivals (Qu, Liang & Xu, ES&T 2017).

Losses: a MWh that arrives carries the intensity of the MWh sent, so the emissions of the
energy lost on a corridor reach no consumer; they are a separate loss term, located on the
corridor (returned as ``loss_emissions``). Conservation, every hour:
``sum_j consumed_j x_j + loss_emissions = sum_p E_p``, with ``consumed_j = T_j - sent_j``.

Solving: the network is small (tens of nodes) and in most hours its active flows form a
directed acyclic graph; then a topological order gives the solution by forward
substitution in O(nodes + edges). Hours whose flows contain a loop solve only the nodes in
and between loops by a dense Gaussian elimination with partial pivoting, and a singular
system (a loop that carries power but has no generation feeding it) by least squares;
every hour's relative residual is returned so ill-conditioned hours can be reported. A
node that neither generates nor receives has intensity 0 and no supply shares (defined
so: it supplies nothing).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

#: a de Bruijn sequence B(2, 6): the top 6 bits of its product with a power of two
#: 2**i (modulo 2**64) differ for every i, so they index the table of lowest set bits
_DE_BRUIJN = 0x03F79D71B4CB0A89
_LOWEST_BIT = np.zeros(64, np.int64)
for _bit in range(64):
    _LOWEST_BIT[(((1 << _bit) * _DE_BRUIJN) % (1 << 64)) >> 58] = _bit


@kernel
def _lowest_bit(mask):
    """Position of the lowest set bit of a nonzero int64 ``mask`` (de Bruijn multiply)."""
    isolated = mask & -mask
    return _LOWEST_BIT[((isolated * _DE_BRUIJN) >> 58) & 63]


#: relative pivot size below which an hour's system is treated as singular
SINGULAR_PIVOT = 1e-12
#: status of an hour's solve
SOLVED_ACYCLIC, SOLVED_DENSE, SOLVED_LEAST_SQUARES = 0, 1, 2


@kernel(inline=True)
def _workspace_regions(n, n_edge, iwork):
    """The regions of the solver's integer scratch space (``iwork`` of
    :func:`network_workspace`, ``6 n + 2 n_edge + 2`` entries) for ``n`` nodes and ``n_edge``
    active edges: ``in_start`` (n + 1), ``out_start`` (n + 1), ``in_edge`` (n_edge),
    ``out_edge`` (n_edge), ``waiting`` (n), ``order`` (n), and two more of ``n`` each for
    a pass's own use (supplier bitmasks and the search stack of the ordering; the peeling
    counts and the dense core of a loop hour)."""
    start = 2 * n + 2 + 2 * n_edge
    return (
        iwork[: n + 1],
        iwork[n + 1 : 2 * n + 2],
        iwork[2 * n + 2 : 2 * n + 2 + n_edge],
        iwork[2 * n + 2 + n_edge : start],
        iwork[start : start + n],
        iwork[start + n : start + 2 * n],
        iwork[start + 2 * n : start + 3 * n],
        iwork[start + 3 * n : start + 4 * n],
    )


@kernel(inline=True)
def _list_starts(ends, start, count):
    """Where each node's compressed list of edges begins: ``start[j]:start[j + 1]`` for the
    edges ``k`` with ``ends[k] == j`` (``start`` (node + 1,)), and ``count[j]`` their number
    (node,), from which the caller fills the lists (counting each node down to 0)."""
    start[:] = 0
    for k in range(ends.size):
        start[ends[k] + 1] += 1
    for j in range(count.size):
        count[j] = start[j + 1]
        start[j + 1] += start[j]


@kernel
def _solving_order(n, source, target, iwork):
    """Edge lists of each node and the order in which substitution can solve the nodes.

    Fills, in ``iwork`` (see :func:`network_workspace`): the compressed lists of the edges
    arriving at each node (``in_start``, ``in_edge``); ``order``, whose first ``tail``
    entries are nodes each of whose arrivals come from nodes before it. In an hour whose
    flows have no loop every node is in the order (tail ``n``), found by a depth-first
    search over the nodes' suppliers held as bitmasks (networks of up to 64 nodes; about
    2 ms, 3%, less per accounting call than Kahn's algorithm, which needs the lists of the
    edges leaving each node as well). In an hour with a loop (or on a larger network)
    Kahn's algorithm (:func:`_kahn_order`) also fills the lists of the edges leaving each
    node (``out_start``, ``out_edge``) and ``waiting``, per node, the arrivals from nodes
    not in the order (> 0 only for nodes in or downstream of a loop).
    Any order in which each node comes after its suppliers gives the same solution, value
    for value: a node's row is summed over its arrivals in edge order whatever the order
    of the nodes.

    Parameters
    ----------
    n : int
        Number of nodes.
    source, target : ndarray of int64 (edge,)
        Sending and receiving node of each active edge.
    iwork : ndarray of int64
        Scratch space (from :func:`network_workspace`).

    Returns
    -------
    int
        ``tail``: the number of nodes solvable by substitution (``n`` when the hour's flows
        have no loop).
    """
    n_edge = source.size
    in_start, _, in_edge, _, waiting, order, supplier, stack = _workspace_regions(n, n_edge, iwork)
    _list_starts(target, in_start, waiting)
    # bit i of supplier[j]: an edge i -> j (for the depth-first search)
    bitmasks = n <= 64
    supplier[:] = 0
    for k in range(n_edge):
        j = target[k]
        in_edge[in_start[j + 1] - waiting[j]] = k
        waiting[j] -= 1
        if bitmasks:
            supplier[j] |= 1 << source[k]
    tail = -1
    if bitmasks:
        tail = _depth_first_order(n, supplier, stack, order)
    if tail < 0:
        tail = _kahn_order(n, source, target, iwork)
    return tail


@kernel
def _depth_first_order(n, supplier, stack, order):
    """Order the nodes (at most 64) so that each comes after its suppliers (bit ``i`` of
    ``supplier[j]`` set: an edge from ``i`` to ``j``), by a depth-first search; ``stack``
    (node,) is scratch space.

    Returns
    -------
    int
        ``n``, or -1 if the flows have a loop (``order`` is then left incomplete).
    """
    seen = 0  # ordered or on the stack
    open_ = 0  # on the stack: a supplier on the stack closes a loop
    tail = 0
    for root in range(n):
        if (seen >> root) & 1:
            continue
        stack[0] = root
        depth = 1
        seen |= 1 << root
        open_ |= 1 << root
        while depth > 0:
            j = stack[depth - 1]
            if supplier[j] & open_:
                return -1
            pending = supplier[j] & ~seen
            if pending:
                i = _lowest_bit(pending)
                seen |= 1 << i
                open_ |= 1 << i
                stack[depth] = i
                depth += 1
            else:
                open_ &= ~(1 << j)
                order[tail] = j
                tail += 1
                depth -= 1
    return tail


@kernel
def _kahn_order(n, source, target, iwork):
    """Kahn's algorithm on the edge lists of :func:`_solving_order` (which it completes
    with the lists of the edges leaving each node): the nodes whose arrivals all come from
    nodes before them, and ``waiting``.

    Returns
    -------
    int
        ``tail``, as :func:`_solving_order`.
    """
    n_edge = source.size
    in_start, out_start, _, out_edge, waiting, order, _, _ = _workspace_regions(n, n_edge, iwork)
    _list_starts(source, out_start, order)
    for k in range(n_edge):
        i = source[k]
        out_edge[out_start[i + 1] - order[i]] = k
        order[i] -= 1
    # a node is solved once all its arrivals come from solved nodes
    tail = 0
    for j in range(n):
        waiting[j] = in_start[j + 1] - in_start[j]
        if waiting[j] == 0:
            order[tail] = j
            tail += 1
    head = 0
    while head < tail:
        i = order[head]
        head += 1
        for position in range(out_start[i], out_start[i + 1]):
            j = target[out_edge[position]]
            waiting[j] -= 1
            if waiting[j] == 0:
                order[tail] = j
                tail += 1
    return tail


@kernel
def solve_hour(total, rhs, source, target, received, solution, work, iwork, check_acyclic):
    """Solve one hour's tracing system ``(diag(T) - R^T) X = B`` in place.

    Nodes whose arrivals all come from solved nodes are solved by forward substitution in
    topological order (Kahn). If loops remain, the nodes downstream of them that feed no
    loop are peeled off; the core (the loops and what lies between them) is solved by one
    dense solve, with the known arrivals moved to the right-hand side, then the peeled
    nodes by substitution.

    Parameters
    ----------
    total : ndarray (node,)
        Power through each node: generation plus arrivals [MWh].
    rhs : ndarray (node, column)
        Right-hand side ``B`` (emissions [any unit], or ``diag(generation)`` [MWh]); rows of
        nodes with ``total == 0`` are ignored (their solution is 0).
    source, target : ndarray of int64 (edge,)
        Sending and receiving node of each active edge (this hour's direction).
    received : ndarray (edge,)
        Power arriving at ``target`` [MWh], > 0.
    solution : ndarray (node, column)
        Output ``X`` [rhs unit per MWh].
    work, iwork : ndarray
        Scratch space (from :func:`network_workspace`).
    check_acyclic : bool
        Also compute the residual of an hour solved by substitution alone. Substitution in
        topological order computes each node once from final values, so its residual is
        rounding only; a caller that traces many columns (the supply shares of the
        accounting) can skip this check, which costs as much as the substitution itself.

    Returns
    -------
    status : int
        ``SOLVED_ACYCLIC``, ``SOLVED_DENSE`` or ``SOLVED_LEAST_SQUARES``.
    residual : float
        ``max |A X - B| / max |B|`` over the hour [1] (0 when ``B`` is 0, and for an
        acyclic hour when ``check_acyclic`` is False).
    """
    n = total.size
    m = rhs.shape[1]
    n_edge = source.size
    tail = _solving_order(n, source, target, iwork)
    in_start, out_start, in_edge, out_edge, waiting, order, feeding, core = _workspace_regions(
        n, n_edge, iwork
    )  # order: the solving order
    _substitute(order[:tail], total, rhs, source, received, in_start, in_edge, solution)
    status = SOLVED_ACYCLIC
    if tail < n:
        # peel off, from the sinks up, the unsolved nodes that only feed unsolved nodes
        # downstream: what is left (the loops and what lies between them) is solved densely,
        # then the peeled nodes by substitution in reverse peeling order
        peeled = tail
        for j in range(n):
            feeding[j] = 0
            if waiting[j] > 0:
                for position in range(out_start[j], out_start[j + 1]):
                    if waiting[target[out_edge[position]]] > 0:
                        feeding[j] += 1
                if feeding[j] == 0:
                    order[peeled] = j
                    peeled += 1
        head = tail
        while head < peeled:
            j = order[head]
            head += 1
            waiting[j] = -1  # out of the dense core
            for e in range(in_start[j], in_start[j + 1]):
                i = source[in_edge[e]]
                if waiting[i] > 0:
                    feeding[i] -= 1
                    if feeding[i] == 0:
                        order[peeled] = i
                        peeled += 1
        status = _dense_solve(
            total, rhs, source, received, solution, work, in_start, in_edge, waiting, core
        )
        _substitute(
            order[tail:peeled][::-1], total, rhs, source, received, in_start, in_edge, solution
        )
    # residual of the system as solved (identity rows where total == 0), row by row:
    # ``row`` (scratch, free once solved) holds one node's A X - B
    if status == SOLVED_ACYCLIC and not check_acyclic:
        return status, 0.0
    row = work[0, n : n + m]
    worst = 0.0
    scale = 0.0
    for j in range(n):
        if total[j] > 0.0:
            for c in range(m):
                scale = max(scale, abs(rhs[j, c]))
                row[c] = total[j] * solution[j, c] - rhs[j, c]
            for e in range(in_start[j], in_start[j + 1]):
                k = in_edge[e]
                i = source[k]
                r = received[k]
                for c in range(m):
                    row[c] -= r * solution[i, c]
        else:
            for c in range(m):
                row[c] = solution[j, c]
        for c in range(m):
            worst = max(worst, abs(row[c]))
    residual = worst / scale if scale > 0.0 else worst
    return status, residual


# inlined (called every hour; array arguments of a call cost reference counting): with
# _network_totals and _solve_active, the accounting kernel 2.4% faster, bit-identical
@kernel(inline=True)
def _substitute(nodes, total, rhs, source, received, in_start, in_edge, solution):
    """Solve ``nodes``, in that order, each from its already solved suppliers (0 if nothing
    passes through it). One call per hour: array arguments cost reference counting."""
    m = rhs.shape[1]
    for j in nodes:
        # rows as views: the loops over the columns vectorise
        row = solution[j]
        if total[j] <= 0.0:
            for c in range(m):
                row[c] = 0.0
            continue
        given = rhs[j]
        for c in range(m):
            row[c] = given[c]
        for e in range(in_start[j], in_start[j + 1]):
            k = in_edge[e]
            r = received[k]
            supplier = solution[source[k]]
            for c in range(m):
                row[c] += r * supplier[c]
        through = total[j]
        for c in range(m):
            row[c] /= through


@kernel
def _dense_solve(total, rhs, source, received, solution, work, in_start, in_edge, waiting, nodes):
    """Dense solve for the nodes left in the core (``waiting > 0``).

    Gaussian elimination with partial pivoting; least squares if the system is singular.
    ``work`` holds the core's matrix and right-hand side; ``waiting`` is overwritten with
    each core node's local number (-1 outside the core), ``nodes`` with the core's nodes.
    """
    n = total.size
    m = rhs.shape[1]
    u = 0
    for j in range(n):
        if waiting[j] > 0:
            waiting[j] = u
            nodes[u] = j
            u += 1
        else:
            waiting[j] = -1
    a = work[:u, :u]
    b = work[:u, n : n + m]
    largest = _core_system(
        total, rhs, source, received, solution, in_start, in_edge, waiting, nodes, a, b
    )
    for col in range(u):
        pivot = col
        for row in range(col + 1, u):
            if abs(a[row, col]) > abs(a[pivot, col]):
                pivot = row
        if abs(a[pivot, col]) <= SINGULAR_PIVOT * largest:
            _core_system(
                total, rhs, source, received, solution, in_start, in_edge, waiting, nodes, a, b
            )
            least = np.linalg.lstsq(np.ascontiguousarray(a), np.ascontiguousarray(b))[0]
            for r in range(u):
                for c in range(m):
                    solution[nodes[r], c] = least[r, c]
            return SOLVED_LEAST_SQUARES
        if pivot != col:
            for c in range(u):
                a[col, c], a[pivot, c] = a[pivot, c], a[col, c]
            for c in range(m):
                b[col, c], b[pivot, c] = b[pivot, c], b[col, c]
        for row in range(col + 1, u):
            factor = a[row, col] / a[col, col]
            if factor != 0.0:
                for c in range(col, u):
                    a[row, c] -= factor * a[col, c]
                for c in range(m):
                    b[row, c] -= factor * b[col, c]
    for row in range(u - 1, -1, -1):
        for c in range(m):
            value = b[row, c]
            for k in range(row + 1, u):
                value -= a[row, k] * solution[nodes[k], c]
            solution[nodes[row], c] = value / a[row, row]
    return SOLVED_DENSE


@kernel
def _core_system(total, rhs, source, received, solution, in_start, in_edge, local, nodes, a, b):
    """Fill the core's matrix ``a`` and right-hand side ``b`` (arrivals from solved nodes
    moved to ``b``); return the largest absolute entry of ``a``."""
    u = a.shape[0]
    m = b.shape[1]
    a[:, :] = 0.0
    largest = 0.0
    for r in range(u):
        j = nodes[r]
        if total[j] > 0.0:
            a[r, r] = total[j]
            for c in range(m):
                b[r, c] = rhs[j, c]
            for e in range(in_start[j], in_start[j + 1]):
                k = in_edge[e]
                i = source[k]
                if local[i] >= 0:
                    a[r, local[i]] -= received[k]
                    largest = max(largest, abs(a[r, local[i]]))
                else:
                    for c in range(m):
                        b[r, c] += received[k] * solution[i, c]
        else:
            a[r, r] = 1.0
            for c in range(m):
                b[r, c] = 0.0
        largest = max(largest, abs(a[r, r]))
    return largest


@kernel
def hour_network(edge_from, edge_to, flow, loss, source, target, received, sent):
    """Orient this hour's edges by the sign of their flow and keep the active ones.

    Parameters
    ----------
    edge_from, edge_to : ndarray of int64 (edge,)
        Node indices of each edge's ends (a positive flow goes from ``edge_from``).
    flow : ndarray (edge,)
        Power sent this hour [MWh] (negative: sent from ``edge_to`` to ``edge_from``).
    loss : ndarray (edge,)
        Fraction of the power sent that is lost on the way [1].
    source, target, received, sent : ndarray (edge,)
        Outputs: the first ``n_active`` entries hold the active edges.

    Returns
    -------
    int
        Number of active edges.
    """
    n_active = 0
    for k in range(edge_from.size):
        f = flow[k]
        if f == 0.0:
            continue
        if f > 0.0:
            source[n_active] = edge_from[k]
            target[n_active] = edge_to[k]
        else:
            source[n_active] = edge_to[k]
            target[n_active] = edge_from[k]
            f = -f
        sent[n_active] = f
        received[n_active] = f * (1.0 - loss[k])
        if received[n_active] > 0.0:
            n_active += 1
    return n_active


@kernel
def hour_row(rows, t):
    """Row ``t`` of hour-major ``rows`` (time, edge), or its only row when it has one (a
    value that is the same every hour, such as a corridor's loss fraction)."""
    return rows[t] if rows.shape[0] > 1 else rows[0]


@kernel
def network_workspace(n_node, n_edge, n_column):
    """Buffers for :func:`trace_hour` on a network of ``n_node`` nodes and ``n_edge`` edges.

    Returns
    -------
    tuple
        ``(source, target, received, sent, total, work, iwork)``: this hour's active edges,
        the power through each node, and the solver's scratch space.
    """
    return (
        np.empty(n_edge, np.int64),
        np.empty(n_edge, np.int64),
        np.empty(n_edge),
        np.empty(n_edge),
        np.empty(n_node),
        np.empty((n_node, n_node + n_column)),
        np.empty(6 * n_node + 2 * n_edge + 2, np.int64),
    )


@kernel
def trace_hour(generation, edge_from, edge_to, flow, loss, rhs, solution, space, check_acyclic):
    """Trace one hour: orient the edges, add up each node's supply, solve.

    Parameters
    ----------
    generation : ndarray (node,)
        Generation this hour [MWh].
    edge_from, edge_to : ndarray of int64 (edge,)
        Node indices of each edge's ends.
    flow, loss : ndarray (edge,)
        Power sent this hour [MWh] and the fraction lost on the way [1].
    rhs, solution : ndarray (node, column)
        As in :func:`solve_hour`.
    space : tuple
        From :func:`network_workspace`; holds this hour's active edges and totals after
        the call.
    check_acyclic : bool
        As in :func:`solve_hour`.

    Returns
    -------
    n_active : int
        Number of active edges (the first entries of ``space``'s edge arrays).
    status : int
        As in :func:`solve_hour`.
    residual : float
        As in :func:`solve_hour`.
    """
    n_active = _network_totals(generation, edge_from, edge_to, flow, loss, space)
    status, residual = _solve_active(n_active, rhs, solution, space, check_acyclic)
    return n_active, status, residual


# inlined: see _substitute
@kernel(inline=True)
def _network_totals(generation, edge_from, edge_to, flow, loss, space):
    """Orient this hour's edges into ``space`` (:func:`hour_network`) and add up the power
    through each node (its generation plus its arrivals) in ``space``'s totals.

    Returns
    -------
    int
        Number of active edges.
    """
    source, target, received, sent, total, _, _ = space
    n_active = hour_network(edge_from, edge_to, flow, loss, source, target, received, sent)
    total[:] = generation
    for k in range(n_active):
        total[target[k]] += received[k]
    return n_active


# inlined: see _substitute
@kernel(inline=True)
def _solve_active(n_active, rhs, solution, space, check_acyclic):
    """:func:`solve_hour` on the ``n_active`` edges and the totals held in ``space``."""
    source, target, received, _, total, work, iwork = space
    return solve_hour(
        total,
        rhs,
        source[:n_active],
        target[:n_active],
        received[:n_active],
        solution,
        work,
        iwork,
        check_acyclic,
    )


@kernel
def trace_intensity(generation, emissions, edge_from, edge_to, flow, loss):
    """Consumption intensity of every node and hour by proportional flow tracing.

    Parameters
    ----------
    generation : ndarray (node, time)
        Generation at each node [MWh] (0 at a hub).
    emissions : ndarray (node, time)
        Emissions of that generation [any mass unit].
    edge_from, edge_to : ndarray of int64 (edge,)
        Node indices of each edge's ends.
    flow : ndarray (edge, time)
        Power sent along the edge [MWh]; negative runs from ``edge_to`` to ``edge_from``.
    loss : ndarray (edge, time) or (edge, 1)
        Fraction of the power sent that is lost on the way [1]; one column when it is the
        same every hour (no (edge, time) copy of a constant).

    Returns
    -------
    intensity : ndarray (node, time)
        Intensity of the power leaving each node (consumed or sent on) [mass unit MWh-1];
        0 where a node neither generates nor receives.
    import_fraction : ndarray (node, time)
        Share of the power through the node that arrived from other nodes [1].
    loss_emissions : ndarray (time,)
        Emissions carried by the energy lost on edges [mass unit].
    residual : ndarray (time,)
        Relative residual of each hour's solve [1].
    status : ndarray of int8 (time,)
        0 acyclic, 1 dense solve (a loop), 2 least squares (singular system).
    """
    n_node, n_time = generation.shape
    # hour-major copies: each hour reads and writes contiguous memory
    flow_hour = np.ascontiguousarray(flow.T)
    loss_hour = np.ascontiguousarray(loss.T)
    generation_hour = np.ascontiguousarray(generation.T)
    emissions_hour = np.ascontiguousarray(emissions.T)
    intensity = np.zeros((n_time, n_node))
    import_fraction = np.zeros((n_time, n_node))
    loss_emissions = np.zeros(n_time)
    residual = np.zeros(n_time)
    status = np.zeros(n_time, np.int8)
    rhs = np.empty((n_node, 1))
    solution = np.zeros((n_node, 1))
    space = network_workspace(n_node, edge_from.size, 1)
    source, _, received, sent, total, _, _ = space
    for t in range(n_time):
        rhs[:, 0] = emissions_hour[t]
        n_active, status[t], residual[t] = trace_hour(
            generation_hour[t], edge_from, edge_to, flow_hour[t], hour_row(loss_hour, t), rhs,
            solution, space, True,
        )  # fmt: skip
        for j in range(n_node):
            intensity[t, j] = solution[j, 0]
        hour_import_fractions(generation_hour[t], total, import_fraction[t])
        for k in range(n_active):
            loss_emissions[t] += (sent[k] - received[k]) * solution[source[k], 0]
    return (
        np.ascontiguousarray(intensity.T),
        np.ascontiguousarray(import_fraction.T),
        loss_emissions,
        residual,
        status,
    )


@kernel
def hour_import_fractions(generation, total, import_fraction):
    """Write one hour's import fractions, ``(T - G) / T`` where ``T > 0``, into
    ``import_fraction`` (node,), left as it is (0) elsewhere."""
    for j in range(total.size):
        if total[j] > 0.0:
            import_fraction[j] = (total[j] - generation[j]) / total[j]


@kernel
def trace_shares(generation, edge_from, edge_to, flow, loss):
    """Supply-share matrix of every hour by proportional sharing.

    Parameters
    ----------
    generation : ndarray (node, time)
        Generation at each node [MWh].
    edge_from, edge_to, flow, loss
        As in :func:`trace_intensity` (``loss`` may have one column).

    Returns
    -------
    share : ndarray (time, node, node)
        ``share[t, j, p]``: fraction of the power leaving node ``j`` that was generated at
        node ``p`` [1]; rows sum to 1, or to 0 for a node that neither generates nor
        receives.
    residual : ndarray (time,)
        Relative residual of each hour's solve [1].
    """
    n_node, n_time = generation.shape
    flow_hour = np.ascontiguousarray(flow.T)
    loss_hour = np.ascontiguousarray(loss.T)
    generation_hour = np.ascontiguousarray(generation.T)
    share = np.zeros((n_time, n_node, n_node))
    residual = np.zeros(n_time)
    rhs = np.zeros((n_node, n_node))
    space = network_workspace(n_node, edge_from.size, n_node)
    for t in range(n_time):
        for j in range(n_node):
            rhs[j, j] = generation_hour[t, j]
        _, _, residual[t] = trace_hour(
            generation_hour[t], edge_from, edge_to, flow_hour[t], hour_row(loss_hour, t), rhs,
            share[t], space, True,
        )  # fmt: skip
    return share, residual


def consumption_intensity(
    generation_total, emissions, corridor_from, corridor_to, flow, loss_fraction=None
):
    """Intensity of the electricity consumed in each province, by proportional tracing.

    Solves, for every hour, ``(diag(G + sum of arrivals) - R^T) c = E`` (see the module
    docstring): the power leaving a province (consumed or exported) carries one intensity,
    the mix of its own generation and its imports. A thin caller of
    :func:`trace_intensity`.

    Parameters
    ----------
    generation_total : ndarray (province, time)
        Generation in the province [MWh].
    emissions : ndarray (province, time)
        CO2 emitted by that generation [kg].
    corridor_from, corridor_to : ndarray of int64 (corridor,)
        Node indices of each corridor's ends.
    flow : ndarray (corridor, time)
        Energy sent [MWh] (negative: from ``corridor_to`` to ``corridor_from``).
    loss_fraction : ndarray (corridor,) or (corridor, time), optional
        Fraction of the energy sent that is lost on the corridor [1]; 0 by default.

    Returns
    -------
    intensity : ndarray (province, time)
        Consumption intensity [kg MWh-1]; 0 where a province neither generates nor imports.
    import_fraction : ndarray (province, time)
        Share of the power leaving the province's bus that was imported [1].
    residual : ndarray (time,)
        Relative residual of the linear solve in each hour [1] (a check on
        ill-conditioning).
    """
    generation_total = np.ascontiguousarray(generation_total, dtype=np.float64)
    flow = np.ascontiguousarray(flow, dtype=np.float64)
    loss = _edge_time(loss_fraction, flow.shape)
    intensity, import_fraction, _, residual, _ = trace_intensity(
        generation_total,
        np.ascontiguousarray(emissions, dtype=np.float64),
        np.ascontiguousarray(corridor_from, dtype=np.int64),
        np.ascontiguousarray(corridor_to, dtype=np.int64),
        flow,
        loss,
    )
    return intensity, import_fraction, residual


def _edge_time(loss_fraction, shape) -> np.ndarray:
    """Loss fractions as a contiguous float64 array (edge, time), or (edge, 1) when they
    are the same every hour (the kernels read the one column for every hour)."""
    if loss_fraction is None:
        return np.zeros((shape[0], 1))
    loss = np.asarray(loss_fraction, dtype=np.float64)
    if loss.ndim == 1:
        loss = loss[:, None]
    if loss.shape[-1] == 1:
        shape = (shape[0], 1)
    return np.ascontiguousarray(np.broadcast_to(loss, shape))
